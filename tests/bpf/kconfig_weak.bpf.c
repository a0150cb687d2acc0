// SPDX-License-Identifier: GPL-2.0
/* Only weak CONFIG_ externs and virtual LINUX_ ones: an object that loads on
 * a kernel whose configuration cannot be read (no /boot/config-*, no
 * /proc/config.gz), every CONFIG_ extern then 0. */
#include <linux/bpf.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>

extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern bool LINUX_HAS_BPF_COOKIE __kconfig;
extern bool CONFIG_BPF_SYSCALL __kconfig __weak;
extern int CONFIG_HZ __kconfig __weak;
extern enum libbpf_tristate CONFIG_IPV6 __kconfig __weak;
extern char CONFIG_DEFAULT_HOSTNAME[8] __kconfig __weak;

__u64 seen[6];

SEC("socket")
int read_weak(struct __sk_buff *skb)
{
	seen[0] = LINUX_KERNEL_VERSION;
	seen[1] = LINUX_HAS_BPF_COOKIE;
	seen[2] = CONFIG_BPF_SYSCALL;
	seen[3] = CONFIG_HZ;
	seen[4] = CONFIG_IPV6;
	seen[5] = CONFIG_DEFAULT_HOSTNAME[0];
	return 0;
}

char _license[] SEC("license") = "GPL";
