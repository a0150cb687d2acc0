// SPDX-License-Identifier: GPL-2.0
/* .kconfig externs of every kind libbpf fills in at load: the kernel version,
 * bool, tristate, int of two sizes, char, char arrays (one truncated), and
 * weak externs the config lacks (zero).  The program copies each into .bss
 * so a test run shows what the program saw. */
#include <linux/bpf.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>

extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern bool CONFIG_BPF_SYSCALL __kconfig;
extern enum libbpf_tristate CONFIG_IPV6 __kconfig;
extern enum libbpf_tristate CONFIG_KPROBES __kconfig __weak;	/* "is not set" */
extern int CONFIG_HZ __kconfig;
extern unsigned long long CONFIG_NR_CPUS __kconfig;
extern char CONFIG_NET __kconfig;
extern char CONFIG_LOCALVERSION[16] __kconfig;
extern char CONFIG_DEFAULT_HOSTNAME[4] __kconfig;		/* "(none)" does not fit */
extern bool CONFIG_BPFNB_NO_SUCH_OPTION __kconfig __weak;

__u64 seen[10];

SEC("socket")
int read_kconfig(struct __sk_buff *skb)
{
	seen[0] = LINUX_KERNEL_VERSION;
	seen[1] = CONFIG_BPF_SYSCALL;
	seen[2] = CONFIG_IPV6;
	seen[3] = CONFIG_KPROBES;
	seen[4] = CONFIG_HZ;
	seen[5] = CONFIG_NR_CPUS;
	seen[6] = CONFIG_NET;
	seen[7] = CONFIG_LOCALVERSION[1];
	seen[8] = CONFIG_DEFAULT_HOSTNAME[3];
	seen[9] = CONFIG_BPFNB_NO_SUCH_OPTION;
	return 0;
}

char _license[] SEC("license") = "GPL";
