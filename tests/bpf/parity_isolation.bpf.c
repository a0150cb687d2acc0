// SPDX-License-Identifier: GPL-2.0
/* Loader parity, per-program isolation (issue 12, item 8): a program
 * whose attach target this kernel lacks fails alone; the others load. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__u64 hits = 0;

SEC("tp_btf/sched_switch")
int present_target(__u64 *ctx)
{
	hits++;
	return 0;
}

SEC("tp_btf/bpfnb_parity_no_such_tracepoint")
int missing_target(__u64 *ctx)
{
	hits += 2;
	return 0;
}

SEC("xdp")
int plain_xdp(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
