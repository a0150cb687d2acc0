// SPDX-License-Identifier: GPL-2.0
/* CO-RE self-checks that must fail, each for its own reason (issue 12).
 *
 * Loaded one program at a time (autoload off for the others) against a
 * target BTF the test builds.  GPL, so that no failure can be a licence
 * refusal:
 *  - neg_ambiguous: two flavours of cs_amb lay `b` out differently; with
 *    both in the target (the object's own types do), the record is
 *    ambiguous and relocation refuses;
 *  - neg_poisoned_field / neg_poisoned_enum: the target lacks a member / an
 *    enumerator read unguarded: the instruction is poisoned and the verifier
 *    rejects it; the loader names the record;
 *  - neg_guarded: the same reads behind existence checks: loads, returns 0;
 *  - neg_weak_kfunc / neg_weak_ksym: a weak kfunc / kernel variable no
 *    kernel has, used without bpf_ksym_exists().
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#ifndef bpf_ksym_exists
#define bpf_ksym_exists(sym) ({ \
	_Static_assert(!__builtin_constant_p(!!sym), #sym " should be marked as __weak"); \
	!!sym; \
})
#endif

struct cs_amb___one {
	int a;
	int b;
} __attribute__((preserve_access_index));

struct cs_amb___two {
	int b;
	int a;
} __attribute__((preserve_access_index));

struct cs_gone {
	int here;
	int gone;
} __attribute__((preserve_access_index));

enum cs_gone_enum { CS_KEPT = 1, CS_DROPPED = 2 };

extern void bpfnb_selfcheck_no_such_kfunc(void) __ksym __weak;
extern const int bpfnb_selfcheck_no_such_var __ksym __weak;

const volatile unsigned char blob[64] = {};

SEC("raw_tp/sys_enter")
int neg_ambiguous(void *ctx)
{
	const struct cs_amb___one *p = (const void *)blob;

	asm volatile("" : "+r"(p));
	/* the size of the other flavour brings it into the object's BTF: both agree on it */
	return p->b + bpf_core_type_size(struct cs_amb___two);
}

SEC("raw_tp/sys_enter")
int neg_poisoned_field(void *ctx)
{
	const struct cs_gone *p = (const void *)blob;

	asm volatile("" : "+r"(p));
	return p->here + p->gone;
}

SEC("raw_tp/sys_enter")
int neg_poisoned_enum(void *ctx)
{
	return bpf_core_enum_value(enum cs_gone_enum, CS_DROPPED);
}

SEC("raw_tp/sys_enter")
int neg_guarded(void *ctx)
{
	const struct cs_gone *p = (const void *)blob;
	int sum = 0;

	asm volatile("" : "+r"(p));
	if (bpf_core_field_exists(p->gone))
		sum += p->gone;
	if (bpf_core_enum_value_exists(enum cs_gone_enum, CS_DROPPED))
		sum += bpf_core_enum_value(enum cs_gone_enum, CS_DROPPED);
	if (bpf_ksym_exists(bpfnb_selfcheck_no_such_kfunc))
		bpfnb_selfcheck_no_such_kfunc();
	return sum + p->here - 1;
}

SEC("raw_tp/sys_enter")
int neg_weak_kfunc(void *ctx)
{
	bpfnb_selfcheck_no_such_kfunc();
	return 0;
}

SEC("raw_tp/sys_enter")
int neg_weak_ksym(void *ctx)
{
	return *(const int *)bpf_this_cpu_ptr(&bpfnb_selfcheck_no_such_var);
}

char _license[] SEC("license") = "GPL";
