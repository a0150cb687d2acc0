// SPDX-License-Identifier: GPL-2.0
/* Maps defined the pre-BTF way, in SEC("maps") with struct bpf_map_def.
 * libbpf 1.x refuses this; Aya and bpfnb still load it. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct bpf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct bpf_map_def SEC("maps") legacy_counts = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 128,
};

struct bpf_map_def SEC("maps") legacy_array = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u32),
	.max_entries = 4,
	.map_flags = BPF_F_RDONLY_PROG,
};

SEC("socket")
int legacy_prog(struct __sk_buff *skb)
{
	__u32 key = skb->len & 0xff;
	__u64 one = 1, *v = bpf_map_lookup_elem(&legacy_counts, &key);
	__u32 *cfg;
	__u32 zero = 0;

	if (v)
		*v += 1;
	else
		bpf_map_update_elem(&legacy_counts, &key, &one, BPF_ANY);
	cfg = bpf_map_lookup_elem(&legacy_array, &zero);
	return cfg ? *cfg : 0;
}

char _license[] SEC("license") = "Dual BSD/GPL";
__u32 _version SEC("version") = 0x060c00;
