// SPDX-License-Identifier: GPL-2.0
/* A prog array with initial slots from .maps (libbpf fills them after load),
 * and an entry program that tail-calls through it. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("socket")
int tail_a(struct __sk_buff *skb)
{
	return 42;
}

SEC("socket")
int tail_b(struct __sk_buff *skb)
{
	return 7;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, int (void *));
} jump_table SEC(".maps") = {
	.values = {
		[0] = (void *)&tail_a,
		[2] = (void *)&tail_b,
	},
};

const volatile __u32 slot = 0;

SEC("socket")
int entry(struct __sk_buff *skb)
{
	bpf_tail_call(skb, &jump_table, slot);
	return 1; /* empty slot */
}

char _license[] SEC("license") = "GPL";
