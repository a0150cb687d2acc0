// SPDX-License-Identifier: GPL-2.0
/* Programs this kernel refuses, and one it accepts, for notebook 04.
 *
 * no_bounds_check reads the IP header after checking only that the
 * Ethernet header fits: the verifier rejects the packet access it cannot
 * prove in bounds.  bounds_checked is the same code with the missing check.
 * on_unlink is an fentry program: loading it needs a BPF trampoline, which
 * some kernels (lockdown, an LSM, no arch support) refuse with EPERM. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int no_bounds_check(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);

	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	/* missing: if ((void *)(ip + 1) > end) return XDP_PASS; */
	return ip->protocol == IPPROTO_ICMP ? XDP_DROP : XDP_PASS;
}

SEC("xdp")
int bounds_checked(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);

	if ((void *)(ip + 1) > end)
		return XDP_PASS;
	return ip->protocol == IPPROTO_ICMP ? XDP_DROP : XDP_PASS;
}

SEC("fentry/do_unlinkat")
int on_unlink(unsigned long long *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
