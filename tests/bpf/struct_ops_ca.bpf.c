// SPDX-License-Identifier: GPL-2.0
/* A TCP congestion control in SEC(".struct_ops") (registered by a map update
 * of key 0, unregistered by deleting it): Reno-like halving on loss, one
 * segment per ACK.  Three programs fill three function-pointer members; the
 * object's struct tcp_congestion_ops is not the kernel's layout. */
#include "struct_ops_tcp.h"

SEC("struct_ops/bpfnb_ca_ssthresh")
__u32 BPF_PROG(bpfnb_ca_ssthresh, struct sock *sk)
{
	const struct tcp_sock *tp = tcp_sk(sk);
	__u32 half = tp->snd_cwnd >> 1;

	return half > 2 ? half : 2;
}

SEC("struct_ops/bpfnb_ca_cong_avoid")
void BPF_PROG(bpfnb_ca_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
	struct tcp_sock *tp = tcp_sk(sk);

	if (acked && tp->snd_cwnd < 1000)
		tp->snd_cwnd = tp->snd_cwnd + 1;
}

SEC("struct_ops/bpfnb_ca_undo_cwnd")
__u32 BPF_PROG(bpfnb_ca_undo_cwnd, struct sock *sk)
{
	const struct tcp_sock *tp = tcp_sk(sk);

	return tp->snd_cwnd > tp->prior_cwnd ? tp->snd_cwnd : tp->prior_cwnd;
}

SEC(".struct_ops")
struct tcp_congestion_ops bpfnb_ca = {
	.ssthresh = (void *)bpfnb_ca_ssthresh,
	.cong_avoid = (void *)bpfnb_ca_cong_avoid,
	.undo_cwnd = (void *)bpfnb_ca_undo_cwnd,
	.name = "bpfnb_ca",
};

char _license[] SEC("license") = "GPL";
