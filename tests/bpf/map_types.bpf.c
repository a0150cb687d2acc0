// SPDX-License-Identifier: GPL-2.0
/* One map of every kind the typed map classes handle, typed with BTF where
 * the kernel accepts it, for tests/test_maps_*.py (created one by one with
 * create_map against this object's loaded BTF). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

enum proto { PROTO_TCP = 6, PROTO_UDP = 17 };

struct flow {
	__u32 saddr;
	__u16 sport;
	__u8 proto; /* enum proto */
	__u8 pad;
};

struct stats {
	__u64 packets;
	__u32 bytes;
	enum proto proto : 8;
	_Bool seen;
	char tag[3];
};

struct lpm_v4 {
	__u32 prefixlen;
	__u32 addr;
};

#define HASH_LIKE(name, kind, n)                       \
	struct {                                       \
		__uint(type, kind);                    \
		__uint(max_entries, n);                \
		__type(key, struct flow);              \
		__type(value, struct stats);           \
	} name SEC(".maps")

HASH_LIKE(flows, BPF_MAP_TYPE_HASH, 4096);
HASH_LIKE(lru_flows, BPF_MAP_TYPE_LRU_HASH, 4096);
HASH_LIKE(pcpu_flows, BPF_MAP_TYPE_PERCPU_HASH, 4096);
HASH_LIKE(lru_pcpu_flows, BPF_MAP_TYPE_LRU_PERCPU_HASH, 4096);

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, struct stats);
} slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} pcpu_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 64);
	__type(key, struct lpm_v4);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} routes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 8);
	__type(value, struct flow);
} fifo SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK);
	__uint(max_entries, 8);
	__type(value, __u64);
} lifo SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
	__uint(max_entries, 128);
	__type(value, __u32);
	__uint(map_extra, 3);
} seen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, 16 * sizeof(__u64));
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} jumps SEC(".maps");

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct inner);
} outer SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct inner);
} outer_hash SEC(".maps");

SEC("socket")
int touch(struct __sk_buff *skb)
{
	struct flow f = {};
	struct stats *s = bpf_map_lookup_elem(&flows, &f);

	if (s)
		s->packets++;
	bpf_tail_call(skb, &jumps, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
