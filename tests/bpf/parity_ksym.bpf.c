// SPDX-License-Identifier: GPL-2.0
/* Loader parity, weak __ksym externs the kernel lacks (issue 12, item 4).
 *
 * A weak kfunc no kernel has is called behind a bpf_ksym_exists() guard:
 * the call is neutralised (imm 0, off 0, as libbpf) and the verifier's
 * dead-code elimination drops it.  A weak typed variable no kernel has
 * reads as address 0 behind its guard.  bpf_ksym_exists() on a kfunc the
 * kernel has is an ld_imm64 of its BTF id (BPF_PSEUDO_BTF_ID).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#ifndef bpf_ksym_exists
#define bpf_ksym_exists(sym) ({ \
	_Static_assert(!__builtin_constant_p(!!sym), #sym " should be marked as __weak"); \
	!!sym; \
})
#endif

extern void bpfnb_parity_no_such_kfunc(void) __ksym __weak;
extern const int bpfnb_parity_no_such_var __ksym __weak;
extern void bpf_rcu_read_lock(void) __ksym __weak;
extern void bpf_rcu_read_unlock(void) __ksym __weak;

__u64 count = 0;

SEC("tp_btf/sched_switch")
int guarded_kfunc(__u64 *ctx)
{
	if (bpf_ksym_exists(bpfnb_parity_no_such_kfunc))
		bpfnb_parity_no_such_kfunc();
	count++;
	return 0;
}

SEC("tp_btf/sched_switch")
int guarded_var(__u64 *ctx)
{
	if (bpf_ksym_exists(&bpfnb_parity_no_such_var))
		count += *(const int *)bpf_this_cpu_ptr(&bpfnb_parity_no_such_var);
	return 0;
}

SEC("tp_btf/sched_switch")
int present_kfunc(__u64 *ctx)
{
	if (bpf_ksym_exists(bpf_rcu_read_lock)) {
		bpf_rcu_read_lock();
		count++;
		bpf_rcu_read_unlock();
	}
	return 0;
}

SEC("tp_btf/sched_switch")
int unguarded_kfunc(__u64 *ctx)
{
	bpfnb_parity_no_such_kfunc();
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
