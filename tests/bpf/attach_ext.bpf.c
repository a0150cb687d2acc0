// SPDX-License-Identifier: GPL-2.0
/* freplace: `new_decide` replaces the global function `decide` of the XDP
 * program `target` (load `target` first, then the extension against it). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__attribute__((noinline)) int decide(struct xdp_md *ctx)
{
	return ctx ? XDP_PASS : XDP_ABORTED;
}

SEC("xdp")
int target(struct xdp_md *ctx)
{
	return decide(ctx);
}

SEC("freplace/decide")
int new_decide(struct xdp_md *ctx)
{
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
