// SPDX-License-Identifier: GPL-2.0
/* A program the verifier must reject: the map value pointer is used without
 * the NULL check (R0 is map_value_or_null after the lookup).  The second
 * program is the same code done right, so a test can compare the logs. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} values SEC(".maps");

SEC("socket")
int unchecked_deref(struct __sk_buff *skb)
{
	__u32 key = skb->len & 3;
	__u64 *v = bpf_map_lookup_elem(&values, &key);

	*v += 1; /* no NULL check: "invalid mem access 'map_value_or_null'" */
	return 0;
}

SEC("socket")
int checked_deref(struct __sk_buff *skb)
{
	__u32 key = skb->len & 3;
	__u64 *v = bpf_map_lookup_elem(&values, &key);

	if (v)
		*v += 1;
	return 0;
}

char _license[] SEC("license") = "GPL";
