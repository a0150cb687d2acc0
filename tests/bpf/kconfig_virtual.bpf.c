// SPDX-License-Identifier: GPL-2.0
/* libbpf's virtual .kconfig externs next to strong and weak CONFIG_ externs
 * of every kind libbpf fills: bool, tristate, char, integers of 2, 4 and 8
 * bytes (signed and unsigned), char arrays (one cut short).  The weak ones
 * are options no kernel has, and one (CONFIG_KPROBES) that kernels differ
 * on.  The program copies every value into .bss, so a test run shows what
 * the program saw and a differential test can compare it with libbpf. */
#include <linux/bpf.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>

extern unsigned long long LINUX_KERNEL_VERSION __kconfig;	/* 8 bytes: libbpf accepts any integer */
extern bool LINUX_HAS_BPF_COOKIE __kconfig;
extern bool LINUX_HAS_SYSCALL_WRAPPER __kconfig;
extern int LINUX_BPFNB_NOT_VIRTUAL __kconfig __weak;		/* unknown LINUX_ one, weak: 0 */

extern bool CONFIG_BPF_SYSCALL __kconfig;
extern enum libbpf_tristate CONFIG_BPF_JIT __kconfig;
extern char CONFIG_NET __kconfig;
extern unsigned short CONFIG_LOG_BUF_SHIFT __kconfig;
extern int CONFIG_HZ __kconfig;
extern unsigned long long CONFIG_NR_CPUS __kconfig;
extern char CONFIG_DEFAULT_HOSTNAME[16] __kconfig;
extern char CONFIG_CC_VERSION_TEXT[6] __kconfig;		/* cut to 5 bytes + NUL */

extern enum libbpf_tristate CONFIG_KPROBES __kconfig __weak;	/* set on most kernels, not on every one */
extern bool CONFIG_BPFNB_ABSENT_BOOL __kconfig __weak;
extern enum libbpf_tristate CONFIG_BPFNB_ABSENT_TRISTATE __kconfig __weak;
extern char CONFIG_BPFNB_ABSENT_CHAR __kconfig __weak;
extern short CONFIG_BPFNB_ABSENT_SHORT __kconfig __weak;
extern int CONFIG_BPFNB_ABSENT_INT __kconfig __weak;
extern unsigned long long CONFIG_BPFNB_ABSENT_U64 __kconfig __weak;
extern char CONFIG_BPFNB_ABSENT_STRING[8] __kconfig __weak;

__u64 seen[22];

SEC("socket")
int read_virtual(struct __sk_buff *skb)
{
	seen[0] = LINUX_KERNEL_VERSION;
	seen[1] = LINUX_HAS_BPF_COOKIE;
	seen[2] = LINUX_HAS_SYSCALL_WRAPPER;
	seen[3] = LINUX_BPFNB_NOT_VIRTUAL;
	seen[4] = CONFIG_BPF_SYSCALL;
	seen[5] = CONFIG_BPF_JIT;
	seen[6] = CONFIG_NET;
	seen[7] = CONFIG_LOG_BUF_SHIFT;
	seen[8] = CONFIG_HZ;
	seen[9] = CONFIG_NR_CPUS;
	seen[10] = CONFIG_DEFAULT_HOSTNAME[0];
	seen[11] = CONFIG_CC_VERSION_TEXT[4];
	seen[12] = CONFIG_CC_VERSION_TEXT[5];
	seen[13] = CONFIG_KPROBES;
	seen[14] = CONFIG_BPFNB_ABSENT_BOOL;
	seen[15] = CONFIG_BPFNB_ABSENT_TRISTATE;
	seen[16] = CONFIG_BPFNB_ABSENT_CHAR;
	seen[17] = CONFIG_BPFNB_ABSENT_SHORT;
	seen[18] = CONFIG_BPFNB_ABSENT_INT;
	seen[19] = CONFIG_BPFNB_ABSENT_U64;
	seen[20] = CONFIG_BPFNB_ABSENT_STRING[0];
	seen[21] = CONFIG_BPFNB_ABSENT_STRING[7];
	return 0;
}

char _license[] SEC("license") = "GPL";
