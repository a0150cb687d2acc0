// SPDX-License-Identifier: GPL-2.0
/* __ksym externs checked against the kernel's types, as libbpf checks them.
 *
 * A kfunc is looked up by its essential name (bpf_rcu_read_lock___void is
 * the kernel's bpf_rcu_read_lock), and its prototype must be compatible with
 * the kernel's: of two weak flavours, the one declaring a parameter the
 * kernel's prototype lacks reads as absent (bpf_ksym_exists() is 0, its call
 * is neutralised and dead), the other resolves.  A strong kfunc with the
 * wrong prototype, and a typed variable with the wrong type even when weak,
 * refuse the programs that use them.  bpf_rcu_read_lock came with 6.2.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#ifndef bpf_ksym_exists
#define bpf_ksym_exists(sym) ({ \
	_Static_assert(!__builtin_constant_p(!!sym), #sym " should be marked as __weak"); \
	!!sym; \
})
#endif

struct bpfnb_not_an_int {
	long a, b;
};

extern void bpf_rcu_read_lock___takes_int(int depth) __ksym __weak;
extern void bpf_rcu_read_lock___void(void) __ksym __weak;
extern void bpf_rcu_read_unlock(void) __ksym __weak;
extern void bpf_rcu_read_unlock___takes_ptr(void *owner) __ksym;
extern const struct bpfnb_not_an_int bpf_prog_active __ksym __weak;

__u64 picked = 0;
__u64 count = 0;

SEC("tp_btf/sched_switch")
int flavours(__u64 *ctx)
{
	if (bpf_ksym_exists(bpf_rcu_read_lock___takes_int)) {
		bpf_rcu_read_lock___takes_int(1);
		picked = 1;
	} else if (bpf_ksym_exists(bpf_rcu_read_lock___void)) {
		bpf_rcu_read_lock___void();
		picked = 2;
		bpf_rcu_read_unlock();
	}
	return 0;
}

SEC("tp_btf/sched_switch")
int strong_mismatch(__u64 *ctx)
{
	bpf_rcu_read_unlock___takes_ptr(ctx);
	return 0;
}

SEC("tp_btf/sched_switch")
int var_mismatch(__u64 *ctx)
{
	const struct bpfnb_not_an_int *v = bpf_this_cpu_ptr(&bpf_prog_active);

	count += v->a;
	return 0;
}

SEC("tp_btf/sched_switch")
int independent(__u64 *ctx)
{
	count++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
