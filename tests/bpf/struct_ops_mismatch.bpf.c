// SPDX-License-Identifier: GPL-2.0
/* struct_ops variables a kernel cannot take, one per way of not fitting, for
 * the typed errors (libbpf's rules): members the kernel's
 * tcp_congestion_ops lacks (fine while zero, refused once set, as data or as a
 * program), a member of another size, and an ops struct no kernel wraps. */
#include "struct_ops_tcp.h"

/* "___" flavours name the same kernel struct with another local layout */
struct tcp_congestion_ops___future {
	char name[TCP_CA_NAME_MAX];
	__u32 (*ssthresh)(struct sock *sk);
	void (*cong_avoid)(struct sock *sk, __u32 ack, __u32 acked);
	__u32 (*undo_cwnd)(struct sock *sk);
	__u32 bpfnb_knob;
	void (*bpfnb_hook)(struct sock *sk);
};

struct tcp_congestion_ops___wide {
	__u64 flags;
	__u32 (*ssthresh)(struct sock *sk);
};

struct tcp_congestion_opz {
	__u32 (*ssthresh)(struct sock *sk);
};

SEC("struct_ops/mm_ssthresh")
__u32 BPF_PROG(mm_ssthresh, struct sock *sk)
{
	return tcp_sk(sk)->snd_cwnd;
}

SEC("struct_ops/mm_cong_avoid")
void BPF_PROG(mm_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
}

SEC("struct_ops/mm_undo_cwnd")
__u32 BPF_PROG(mm_undo_cwnd, struct sock *sk)
{
	return tcp_sk(sk)->snd_cwnd;
}

SEC("struct_ops/mm_hook")
void BPF_PROG(mm_hook, struct sock *sk)
{
}

/* the kernel lacks bpfnb_knob and bpfnb_hook, but both are zero: accepted */
SEC(".struct_ops")
struct tcp_congestion_ops___future future_zero = {
	.ssthresh = (void *)mm_ssthresh,
	.cong_avoid = (void *)mm_cong_avoid,
	.undo_cwnd = (void *)mm_undo_cwnd,
	.name = "bpfnb_future",
};

SEC(".struct_ops")
struct tcp_congestion_ops___future future_knob = {
	.ssthresh = (void *)mm_ssthresh,
	.bpfnb_knob = 7,
};

SEC(".struct_ops")
struct tcp_congestion_ops___future future_hook = {
	.ssthresh = (void *)mm_ssthresh,
	.bpfnb_hook = (void *)mm_hook,
};

SEC(".struct_ops")
struct tcp_congestion_ops___wide wide_flags = {
	.ssthresh = (void *)mm_ssthresh,
	.flags = 1,
};

SEC(".struct_ops")
struct tcp_congestion_opz typo = {
	.ssthresh = (void *)mm_ssthresh,
};

/* a struct_ops program no variable uses: not loaded (libbpf 1.4+) */
SEC("struct_ops/mm_unused")
__u32 BPF_PROG(mm_unused, struct sock *sk)
{
	return 0;
}

char _license[] SEC("license") = "GPL";

/* "?.struct_ops": not created by default, and its only program not loaded */
SEC("struct_ops/mm_optional")
__u32 BPF_PROG(mm_optional, struct sock *sk)
{
	return 1;
}

SEC("?.struct_ops")
struct tcp_congestion_ops___future optional = {
	.ssthresh = (void *)mm_optional,
};
