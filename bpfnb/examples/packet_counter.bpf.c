// SPDX-License-Identifier: GPL-2.0
/* Count packets and bytes per IP protocol, and drop what the knobs say.
 *
 * XDP and TC versions share one accounting subprogram; two read-only knobs
 * (set from user space before load) decide what to drop. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct proto_stats {
	__u64 packets;
	__u64 bytes;
};

/* IP protocol number (6 = TCP, 17 = UDP, ...) -> counters, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 256);
	__type(key, __u8);
	__type(value, struct proto_stats);
} proto_stats SEC(".maps");

enum verdict { VERDICT_PASS = 0, VERDICT_DROP = 1, VERDICT_MAX };

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VERDICT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} verdicts SEC(".maps");

const volatile __u32 min_len = 0;   /* drop frames shorter than this */
const volatile __u8 drop_proto = 0; /* drop this IP protocol (0: none) */
__u64 total_packets = 0;

/* The IP protocol of an Ethernet frame, or 0 for non-IP. */
static __always_inline __u8 ip_proto(void *data, void *end)
{
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return 0;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		if ((void *)(ip + 1) > end)
			return 0;
		return ip->protocol;
	}
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > end)
			return 0;
		return ip6->nexthdr;
	}
	return 0;
}

static __attribute__((noinline)) int account(__u8 proto, __u64 len)
{
	struct proto_stats *st, init = { 1, len };
	__u32 verdict = VERDICT_PASS;
	__u64 *count;

	st = bpf_map_lookup_elem(&proto_stats, &proto);
	if (st) {
		st->packets++;
		st->bytes += len;
	} else {
		bpf_map_update_elem(&proto_stats, &proto, &init, BPF_NOEXIST);
	}
	if (len < min_len || (drop_proto && proto == drop_proto))
		verdict = VERDICT_DROP;
	count = bpf_map_lookup_elem(&verdicts, &verdict);
	if (count)
		__sync_fetch_and_add(count, 1);
	__sync_fetch_and_add(&total_packets, 1);
	return verdict;
}

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;

	return account(ip_proto(data, end), end - data) == VERDICT_DROP ? XDP_DROP : XDP_PASS;
}

SEC("tc")
int tc_count(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;

	return account(ip_proto(data, end), skb->len) == VERDICT_DROP ? TC_ACT_SHOT : TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
