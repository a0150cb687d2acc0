// SPDX-License-Identifier: GPL-2.0
/* Network programs with known verdicts, for attach and test_run tests.
 *
 * Every program classifies a packet the same way: UDP to `watch_port` is
 * counted, UDP to the discard port (9) is dropped, TCP is bounced back by
 * XDP (XDP_TX), anything else passes.  The counters are plain globals in
 * .bss so the tests read them through the data map. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define DISCARD_PORT 9

enum kind { K_OTHER, K_WATCHED, K_DISCARD, K_TCP };

const volatile __u16 watch_port = 7777; /* UDP destination port counted (host order) */
const volatile __u32 trim_to = 4;       /* socket filter: bytes kept of each packet */

__u64 xdp_seen = 0;
__u64 tcx_ingress_seen = 0;
__u64 tcx_egress_seen = 0;
__u64 cg_ingress_seen = 0;
__u64 cg_egress_seen = 0;
__u64 cg_egress_udp_watched = 0;

static __always_inline int classify_udp_port(__u16 dport_be)
{
	if (dport_be == bpf_htons(DISCARD_PORT))
		return K_DISCARD;
	if (dport_be == bpf_htons(watch_port))
		return K_WATCHED;
	return K_OTHER;
}

/* Direct packet access: an IPv4 header (no options) at `l3`. */
static __always_inline int classify_ip(void *l3, void *end)
{
	struct iphdr *ip = l3;
	struct udphdr *udp;

	if ((void *)(ip + 1) > end || ip->ihl != 5)
		return K_OTHER;
	if (ip->protocol == IPPROTO_TCP)
		return K_TCP;
	if (ip->protocol != IPPROTO_UDP)
		return K_OTHER;
	udp = (void *)(ip + 1);
	if ((void *)(udp + 1) > end)
		return K_OTHER;
	return classify_udp_port(udp->dest);
}

static __always_inline int classify_eth(void *data, void *end)
{
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return K_OTHER;
	return classify_ip(eth + 1, end);
}

SEC("xdp")
int xdp_watch(struct xdp_md *ctx)
{
	int kind = classify_eth((void *)(long)ctx->data, (void *)(long)ctx->data_end);

	if (kind == K_WATCHED)
		__sync_fetch_and_add(&xdp_seen, 1);
	if (kind == K_DISCARD)
		return XDP_DROP;
	if (kind == K_TCP)
		return XDP_TX;
	return XDP_PASS;
}

static __always_inline int tc_verdict(struct __sk_buff *skb, __u64 *counter)
{
	int kind = classify_eth((void *)(long)skb->data, (void *)(long)skb->data_end);

	if (kind == K_WATCHED)
		__sync_fetch_and_add(counter, 1);
	return kind == K_DISCARD ? TC_ACT_SHOT : TC_ACT_OK;
}

SEC("tcx/ingress")
int tcx_in(struct __sk_buff *skb)
{
	return tc_verdict(skb, &tcx_ingress_seen);
}

SEC("tcx/egress")
int tcx_out(struct __sk_buff *skb)
{
	return tc_verdict(skb, &tcx_egress_seen);
}

/* Socket filter: the return value is how many bytes of the packet to keep. */
SEC("socket")
int keep_head(struct __sk_buff *skb)
{
	return trim_to;
}

SEC("socket")
int drop_all(struct __sk_buff *skb)
{
	return 0;
}

/* cgroup_skb sees the packet from its IP header on: read it with load_bytes. */
static __always_inline int skb_kind(struct __sk_buff *skb)
{
	struct iphdr ip;
	struct udphdr udp;

	if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)) || ip.version != 4 || ip.ihl != 5)
		return K_OTHER;
	if (ip.protocol == IPPROTO_TCP)
		return K_TCP;
	if (ip.protocol != IPPROTO_UDP || bpf_skb_load_bytes(skb, sizeof(ip), &udp, sizeof(udp)))
		return K_OTHER;
	return classify_udp_port(udp.dest);
}

SEC("cgroup_skb/egress")
int cg_egress(struct __sk_buff *skb)
{
	int kind = skb_kind(skb);

	__sync_fetch_and_add(&cg_egress_seen, 1);
	if (kind == K_WATCHED)
		__sync_fetch_and_add(&cg_egress_udp_watched, 1);
	return kind == K_DISCARD ? 0 : 1; /* 1 allows, 0 drops */
}

SEC("cgroup_skb/ingress")
int cg_ingress(struct __sk_buff *skb)
{
	__sync_fetch_and_add(&cg_ingress_seen, 1);
	return 1;
}

/* A minimal IPv4 flow dissector: fills the addresses and L4 protocol. */
SEC("flow_dissector")
int dissect(struct __sk_buff *skb)
{
	struct bpf_flow_keys *keys = skb->flow_keys;
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u32 nhoff = keys->nhoff;
	struct iphdr *ip;

	if (keys->n_proto != bpf_htons(ETH_P_IP) || nhoff > 64)
		return BPF_DROP;
	ip = data + nhoff;
	if ((void *)(ip + 1) > end)
		return BPF_DROP;
	if (ip->ihl != 5)
		return BPF_DROP;
	keys->addr_proto = ETH_P_IP;
	keys->ip_proto = ip->protocol;
	keys->ipv4_src = ip->saddr;
	keys->ipv4_dst = ip->daddr;
	keys->thoff = keys->nhoff + sizeof(*ip);
	return BPF_OK;
}

char LICENSE[] SEC("license") = "GPL";
