// SPDX-License-Identifier: GPL-2.0
/* The same module-only kfuncs __weak (see ksym_module.h): loads on every kernel.
 * Without nf_conntrack the calls are neutralised (imm 0) and must be dead code:
 * ct_guarded runs them only when use_ct is set (a frozen .rodata the verifier reads),
 * ct_exists behind bpf_ksym_exists(), an ld_imm64 of the kfunc (6.4+ kernels take it
 * for a kfunc; its second half is then the module BTF's fd). */
#define KSYM_LINKAGE __weak
#include "ksym_module.h"

#ifndef bpf_ksym_exists
#define bpf_ksym_exists(sym) ({ \
	_Static_assert(!__builtin_constant_p(!!sym), #sym " should be marked as __weak"); \
	!!sym; \
})
#endif

const volatile int use_ct = 0;

SEC("xdp")
int ct_guarded(struct xdp_md *ctx)
{
	if (use_ct)
		return ct_lookup_tcp(ctx);
	return XDP_DROP;
}

SEC("xdp")
int ct_exists(struct xdp_md *ctx)
{
	if (bpf_ksym_exists(bpf_xdp_ct_lookup))
		return ct_lookup_tcp(ctx);
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
