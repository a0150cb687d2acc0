/* Kernel types the struct_ops fixtures use, declared here (no vmlinux.h) and
 * relocated by CO-RE: only the members the programs touch, in an order that
 * is not the kernel's, so the loader has to match members by name. */
#ifndef BPFNB_STRUCT_OPS_TCP_H
#define BPFNB_STRUCT_OPS_TCP_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define TCP_CA_NAME_MAX 16

struct sock {
	int sk_err;
} __attribute__((preserve_access_index));

struct tcp_sock {
	__u32 snd_ssthresh;
	__u32 snd_cwnd;
	__u32 prior_cwnd;
} __attribute__((preserve_access_index));

struct tcp_congestion_ops {
	/* the kernel puts name and flags after the function pointers */
	char name[TCP_CA_NAME_MAX];
	__u32 flags;
	void (*init)(struct sock *sk);
	__u32 (*ssthresh)(struct sock *sk);
	void (*cong_avoid)(struct sock *sk, __u32 ack, __u32 acked);
	__u32 (*undo_cwnd)(struct sock *sk);
	void *owner;
};

static __always_inline struct tcp_sock *tcp_sk(const struct sock *sk)
{
	return (struct tcp_sock *)sk;
}

#endif
