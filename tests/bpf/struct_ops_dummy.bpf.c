// SPDX-License-Identifier: GPL-2.0
/* A struct_ops type that is not TCP: the kernel's bpf_dummy_ops, which exists
 * to be test-run (BPF_PROG_TEST_RUN builds a trampoline around one member)
 * and which refuses registration.  test_1 returns the state it is given plus
 * one; test_2 sums its arguments into the state. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct bpf_dummy_ops_state {
	int val;
} __attribute__((preserve_access_index));

struct bpf_dummy_ops {
	int (*test_1)(struct bpf_dummy_ops_state *cb);
	int (*test_2)(struct bpf_dummy_ops_state *cb, int a1, unsigned short a2, char a3, unsigned long a4);
};

SEC("struct_ops/test_1")
int BPF_PROG(bpfnb_dummy_1, struct bpf_dummy_ops_state *state)
{
	int ret = 0;

	if (state)
		ret = state->val + 1;
	return ret;
}

SEC("struct_ops/test_2")
int BPF_PROG(bpfnb_dummy_2, struct bpf_dummy_ops_state *state, int a1, unsigned short a2, char a3, unsigned long a4)
{
	if (state)
		state->val = a1 + a2 + a3 + a4;
	return 0;
}

SEC(".struct_ops")
struct bpf_dummy_ops bpfnb_dummy = {
	.test_1 = (void *)bpfnb_dummy_1,
	.test_2 = (void *)bpfnb_dummy_2,
};

char _license[] SEC("license") = "GPL";
