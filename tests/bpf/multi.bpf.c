// SPDX-License-Identifier: GPL-2.0
/* The main parse fixture: many program types in one object, two programs
 * sharing a section, static and global subprograms called from several
 * programs, a bpf_loop callback, BTF maps of several types and every kind of
 * global data section. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct flow_key {
	__u32 saddr;
	__u32 daddr;
	__u16 sport;
	__u16 dport;
	__u8 proto;
};

struct flow_stats {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct flow_key);
	__type(value, struct flow_stats);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} percpu_hits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
	__uint(map_flags, 0);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lru_pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

/* Global data in every kind of section. */
__u64 packets_seen = 0;                         /* .bss */
__u64 start_value = 42;                         /* .data */
const volatile __u32 sample_rate = 1;           /* .rodata */
const volatile char greeting[8] = "hello";      /* .rodata */
__u32 custom_counter SEC(".data.foo") = 7;      /* .data.foo */
__u64 custom_zero SEC(".data.foo");             /* .data.foo, zero */

static __attribute__((noinline)) __u64 bump(__u32 idx, __u64 by)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);
	if (!v)
		return 0;
	__sync_fetch_and_add(v, by);
	return *v;
}

__attribute__((noinline)) int global_sample(__u32 n)
{
	if (sample_rate == 0)
		return 0;
	return (n % sample_rate) == 0;
}

static long loop_cb(__u64 index, void *ctx)
{
	__u64 *sum = ctx;
	*sum += index;
	return 0;
}

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u64 len = end - data;

	packets_seen++;
	bump(0, len);
	if (global_sample((__u32)len))
		bump(1, 1);
	return XDP_PASS;
}

SEC("xdp")
int xdp_drop_small(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;

	if (end - data < ETH_HLEN) {
		bump(2, 1);
		return XDP_DROP;
	}
	return XDP_PASS;
}

SEC("tc")
int tc_flows(struct __sk_buff *skb)
{
	struct flow_key key = {};
	struct flow_stats init = {1, skb->len}, *st;

	key.proto = skb->protocol == bpf_htons(ETH_P_IP) ? 4 : 0;
	key.sport = (__u16)skb->ifindex;
	st = bpf_map_lookup_elem(&flows, &key);
	if (st) {
		__sync_fetch_and_add(&st->packets, 1);
		__sync_fetch_and_add(&st->bytes, skb->len);
	} else {
		bpf_map_update_elem(&flows, &key, &init, BPF_ANY);
	}
	return TC_ACT_OK;
}

SEC("socket")
int socket_len(struct __sk_buff *skb)
{
	__u32 idx = 3;
	__u64 *v;

	if (!global_sample(skb->len))
		return 0;
	v = bpf_map_lookup_elem(&percpu_hits, &idx);
	if (v)
		*v += 1;
	return skb->len;
}

SEC("tracepoint/syscalls/sys_enter_openat")
int trace_openat(void *ctx)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	__u64 one = 1, *v;

	v = bpf_map_lookup_elem(&lru_pids, &pid);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(&lru_pids, &pid, &one, BPF_NOEXIST);
	custom_counter++;
	return 0;
}

SEC("raw_tracepoint/sys_enter")
int raw_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 sum = start_value;
	__u64 *rec;

	bpf_loop(16, loop_cb, &sum, 0);
	rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);
	if (!rec)
		return 0;
	*rec = sum + greeting[0];
	bpf_ringbuf_submit(rec, 0);
	return 0;
}

SEC("cgroup_skb/ingress")
int cgroup_ingress(struct __sk_buff *skb)
{
	bump(4, skb->len);
	return 1;
}

char _license[] SEC("license") = "GPL";
