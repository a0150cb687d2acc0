// SPDX-License-Identifier: GPL-2.0
/* Map definitions the maps stage treats specially: map-in-map with an inner
 * template and an initial slot, a bloom filter (map_extra = hash count), a
 * hash without preallocation (map_flags), and a program using them so that
 * libbpf (the oracle) creates the same maps. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
};

struct inner inner_a SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner);
} outer SEC(".maps") = {
	.values = { [1] = &inner_a },
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 8);
	__type(key, __u32);
	__array(values, struct inner);
} outer_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
	__uint(max_entries, 64);
	__type(value, __u64);
	__uint(map_extra, 3);
} seen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32);
	__type(key, __u32);
	__type(value, __u64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} lazy SEC(".maps");

SEC("socket")
int use_maps(struct __sk_buff *skb)
{
	__u32 one = 1, zero = 0;
	__u64 len = skb->len;
	__u32 *v;
	void *in = bpf_map_lookup_elem(&outer, &one);

	if (in) {
		v = bpf_map_lookup_elem(in, &zero);
		if (v)
			*v += 1;
	}
	in = bpf_map_lookup_elem(&outer_hash, &one);
	if (in)
		bpf_map_lookup_elem(in, &zero);
	if (bpf_map_peek_elem(&seen, &len) == 0)
		return 1;
	bpf_map_push_elem(&seen, &len, BPF_ANY);
	bpf_map_update_elem(&lazy, &zero, &len, BPF_ANY);
	return 0;
}

char _license[] SEC("license") = "GPL";
