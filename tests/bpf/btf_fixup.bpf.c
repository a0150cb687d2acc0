// SPDX-License-Identifier: GPL-2.0
/* What clang leaves to the loader's BTF fix-up (tests/test_btf_sanitize.py,
 * tests/test_kernel_btf.py): several globals per data section at non-zero
 * offsets, static and __hidden globals, Kconfig externs of every size and
 * alignment (libbpf lays .kconfig out by alignment, size and name), an
 * untyped ksym VAR next to kfuncs in .ksyms, and a kfunc declared without
 * parameter names (the kernel wants every FUNC parameter named), and a
 * __hidden global subprogram (libbpf marks its FUNC static). */
#include <linux/bpf.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>

#define __hidden __attribute__((visibility("hidden")))

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} fixup_counts SEC(".maps");

/* .data: globals at offsets 0, 8, 16, a hidden one and a static one */
volatile __u64 first_data = 1;
volatile __u32 second_data = 2;
__hidden volatile __u32 hidden_data = 3;
static volatile __u64 static_data = 4;

/* .bss */
volatile __u8 small_bss;
volatile __u64 big_bss;
static volatile __u32 static_bss;

/* .rodata */
const volatile __u16 ro_short = 5;
const volatile __u64 ro_long = 6;
const volatile char ro_name[5] = "abcd";

/* a custom data section */
volatile __u32 custom_a SEC(".data.custom") = 7;
volatile __u64 custom_b SEC(".data.custom") = 8;

/* .kconfig: bool (1), char[8] (align 1), int (4), u64 (8) */
extern bool CONFIG_BPF_SYSCALL __kconfig;
extern char CONFIG_DEFAULT_HOSTNAME[8] __kconfig __weak;
extern int CONFIG_HZ __kconfig __weak;
extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern unsigned long long CONFIG_NR_CPUS __kconfig __weak;

/* .ksyms: kfuncs (one without parameter names) and an untyped ksym */
extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;
extern void *bpf_cast_to_kern_ctx(void *) __ksym;
extern const void bpf_prog_active __ksym __weak;

/* a __hidden global subprogram: libbpf marks its FUNC static (verified with its caller's context) */
__hidden __attribute__((noinline)) int hidden_helper(int value)
{
	return value * 3 + 1;
}

/* a plain global subprogram stays global (verified on its own) */
__attribute__((noinline)) int global_helper(int value)
{
	return value ^ 5;
}

SEC("socket")
int fixup_user(struct __sk_buff *skb)
{
	__u32 key = 0;
	__u64 *slot = bpf_map_lookup_elem(&fixup_counts, &key);
	__u64 sum = first_data + second_data + hidden_data + static_data + small_bss + big_bss + static_bss
		    + ro_short + ro_long + ro_name[1] + custom_a + custom_b;

	if (CONFIG_BPF_SYSCALL)
		sum += CONFIG_HZ + LINUX_KERNEL_VERSION + CONFIG_NR_CPUS + CONFIG_DEFAULT_HOSTNAME[0];
	sum += (__u64)&bpf_prog_active & 1;
	bpf_rcu_read_lock();
	bpf_rcu_read_unlock();
	if (bpf_cast_to_kern_ctx(skb))
		sum++;
	sum += hidden_helper(sum & 0xff) + global_helper(sum & 0xff);
	static_bss = sum;
	if (slot)
		*slot = sum;
	return 0;
}

char _license[] SEC("license") = "GPL";
