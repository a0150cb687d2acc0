// SPDX-License-Identifier: GPL-2.0
/* bpf-to-bpf calls where the append order matters: nested calls (libbpf
 * appends depth first, so a callee's callees come before the caller's next
 * callee), a callback passed from a subprogram, a leaf reached from three
 * places, two programs that need the same subprograms in different orders,
 * and static globals that clang relocates against the section symbol with
 * the variable's offset in the instruction. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

static __u64 hits[4];          /* .bss, static: section-relative */
__u64 total = 0;               /* .bss, global: its own symbol */
__u32 bias = 5;                /* .data */
static __u32 scale = 3;        /* .data, static */

static __attribute__((noinline)) __u64 leaf(__u64 x)
{
	return x * scale + bias;
}

static __attribute__((noinline)) __u64 mid_a(__u64 x)
{
	hits[x & 3]++;
	return leaf(x) + 1;
}

static long each(__u64 i, void *ctx)
{
	*(__u64 *)ctx += leaf(i);
	return 0;
}

static __attribute__((noinline)) __u64 mid_b(__u64 x)
{
	__u64 acc = x;

	bpf_loop(3, each, &acc, 0);
	hits[(acc >> 1) & 3] += acc;
	return acc;
}

__attribute__((noinline)) int global_top(__u32 n)
{
	total += n;
	return (int)(mid_a(n) & 1);
}

SEC("xdp")
int calls_nested(struct xdp_md *ctx)
{
	__u64 v = ctx->data_end - ctx->data;

	v = mid_a(v);
	v += mid_b(v);
	return leaf(v) & 1 ? XDP_PASS : XDP_DROP;
}

SEC("tc")
int calls_reverse(struct __sk_buff *skb)
{
	__u64 v = skb->len;

	v = mid_b(v);
	v += leaf(v);
	hits[3] = v;
	return global_top((__u32)v) ? TC_ACT_OK : TC_ACT_SHOT;
}

char _license[] SEC("license") = "GPL";
