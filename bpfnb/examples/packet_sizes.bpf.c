// SPDX-License-Identifier: GPL-2.0
/* Log2 histograms as the latency tools keep them: XDP counts each packet's
 * length in slot floor(log2(len)), in an array, a per-CPU array and a hash
 * of structs (tests/test_maps_histogram.py, notebook 08). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define MAX_SLOTS 64

struct slot_count {
	__u64 count;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} len_hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} len_hist_percpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_SLOTS);
	__type(key, __u32);
	__type(value, struct slot_count);
} len_hist_hash SEC(".maps");

static __always_inline __u32 log2_u32(__u32 v)
{
	__u32 r = 0, shift;

	shift = (v > 0xFFFF) << 4; v >>= shift; r |= shift;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r;
}

SEC("xdp")
int count_lengths(struct xdp_md *ctx)
{
	__u32 len = ctx->data_end - ctx->data;
	__u32 slot = log2_u32(len);
	__u64 *count, *pcpu;
	struct slot_count *entry, fresh = { 1, len };

	count = bpf_map_lookup_elem(&len_hist, &slot);
	if (count)
		__sync_fetch_and_add(count, 1);
	pcpu = bpf_map_lookup_elem(&len_hist_percpu, &slot);
	if (pcpu)
		*pcpu += 1;
	entry = bpf_map_lookup_elem(&len_hist_hash, &slot);
	if (entry) {
		__sync_fetch_and_add(&entry->count, 1);
		__sync_fetch_and_add(&entry->bytes, len);
	} else {
		bpf_map_update_elem(&len_hist_hash, &slot, &fresh, BPF_NOEXIST);
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
