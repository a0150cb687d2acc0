// SPDX-License-Identifier: GPL-2.0
/* The same kind of congestion control in SEC(".struct_ops.link"): the map is
 * created with BPF_F_LINK, filled once, and registered by BPF_LINK_CREATE
 * (attach type BPF_STRUCT_OPS); closing the link unregisters it.  One
 * program serves as init; flags is a data member copied into the kernel's
 * layout by name. */
#include "struct_ops_tcp.h"

SEC("struct_ops/bpfnb_link_init")
void BPF_PROG(bpfnb_link_init, struct sock *sk)
{
	tcp_sk(sk)->snd_ssthresh = 0x7fffffff;
}

SEC("struct_ops/bpfnb_link_ssthresh")
__u32 BPF_PROG(bpfnb_link_ssthresh, struct sock *sk)
{
	return tcp_sk(sk)->snd_cwnd;
}

SEC("struct_ops/bpfnb_link_cong_avoid")
void BPF_PROG(bpfnb_link_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
}

SEC("struct_ops/bpfnb_link_undo_cwnd")
__u32 BPF_PROG(bpfnb_link_undo_cwnd, struct sock *sk)
{
	return tcp_sk(sk)->snd_cwnd;
}

SEC(".struct_ops.link")
struct tcp_congestion_ops bpfnb_ca_link = {
	.init = (void *)bpfnb_link_init,
	.ssthresh = (void *)bpfnb_link_ssthresh,
	.cong_avoid = (void *)bpfnb_link_cong_avoid,
	.undo_cwnd = (void *)bpfnb_link_undo_cwnd,
	.name = "bpfnb_ca_link",
	.flags = 0,
};

/* "?.struct_ops.link": declared, but neither created nor loaded unless asked */
SEC("struct_ops/bpfnb_off_ssthresh")
__u32 BPF_PROG(bpfnb_off_ssthresh, struct sock *sk)
{
	return 2;
}

SEC("?.struct_ops.link")
struct tcp_congestion_ops bpfnb_ca_off = {
	.ssthresh = (void *)bpfnb_off_ssthresh,
	.name = "bpfnb_ca_off",
};

char _license[] SEC("license") = "GPL";
