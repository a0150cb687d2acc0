// SPDX-License-Identifier: GPL-2.0
/* A sockmap fed by sockops, with sk_skb and sk_msg verdict programs.
 *
 * The sockops program puts each established TCP socket into `socks`
 * (slot 0: the connecting side, slot 1: the accepting side); the sk_msg
 * program then sees every sendmsg on them and the sk_skb program every
 * received skb.  All pass the data on unchanged and count. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} socks SEC(".maps");

__u64 active_established = 0;
__u64 passive_established = 0;
__u64 msgs = 0;
__u64 msg_bytes = 0;
__u64 skbs = 0;

SEC("sockops")
int on_sockops(struct bpf_sock_ops *ops)
{
	__u32 slot;

	switch (ops->op) {
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		slot = 0;
		__sync_fetch_and_add(&active_established, 1);
		break;
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		slot = 1;
		__sync_fetch_and_add(&passive_established, 1);
		break;
	default:
		return 1;
	}
	bpf_sock_map_update(ops, &socks, &slot, BPF_ANY);
	return 1;
}

SEC("sk_skb/stream_verdict")
int on_skb(struct __sk_buff *skb)
{
	__sync_fetch_and_add(&skbs, 1);
	return SK_PASS;
}

SEC("sk_msg")
int on_msg(struct sk_msg_md *msg)
{
	__sync_fetch_and_add(&msgs, 1);
	__sync_fetch_and_add(&msg_bytes, msg->size);
	return SK_PASS;
}

/* Plain cgroup hooks: socket creation and IPv4 connect() by the cgroup's processes. */
__u64 socks_created = 0;
__u64 connects4 = 0;

SEC("cgroup/sock_create")
int on_sock_create(struct bpf_sock *sk)
{
	__sync_fetch_and_add(&socks_created, 1);
	return 1;
}

SEC("cgroup/connect4")
int on_connect4(struct bpf_sock_addr *ctx)
{
	__sync_fetch_and_add(&connects4, 1);
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
