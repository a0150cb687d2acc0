// SPDX-License-Identifier: GPL-2.0
/* Count system calls per process and stream execve events.
 *
 * A raw tracepoint on sys_enter sees every system call of the machine: the
 * program counts them per (pid, syscall number), keeps the command name of
 * each pid, and sends an event through a ring buffer for each execve. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define TASK_COMM_LEN 16
#define NR_EXECVE 59 /* x86_64 */

struct syscall_key {
	__u32 pid;
	__u32 nr;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct syscall_key);
	__type(value, __u64);
} syscalls SEC(".maps");

struct comm {
	char name[TASK_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct comm);
} comms SEC(".maps");

struct exec_event {
	__u32 pid;
	__u32 ppid_unused;
	__u64 ts_ns;
	char comm[TASK_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 16);
} events SEC(".maps");

const volatile __u32 only_pid = 0; /* 0: every process */
__u64 events_lost = 0;

SEC("raw_tracepoint/sys_enter")
int count_syscalls(struct bpf_raw_tracepoint_args *ctx)
{
	struct syscall_key key = {
		.pid = bpf_get_current_pid_tgid() >> 32,
		.nr = (__u32)ctx->args[1],
	};
	struct comm comm = {};
	__u64 one = 1, *count;

	if (only_pid && key.pid != only_pid)
		return 0;
	count = bpf_map_lookup_elem(&syscalls, &key);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&syscalls, &key, &one, BPF_NOEXIST);

	if (!bpf_map_lookup_elem(&comms, &key.pid)) {
		bpf_get_current_comm(comm.name, sizeof(comm.name));
		bpf_map_update_elem(&comms, &key.pid, &comm, BPF_ANY);
	}

	if (key.nr == NR_EXECVE) {
		struct exec_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
		if (!e) {
			__sync_fetch_and_add(&events_lost, 1);
			return 0;
		}
		e->pid = key.pid;
		e->ppid_unused = 0;
		e->ts_ns = bpf_ktime_get_ns();
		bpf_get_current_comm(e->comm, sizeof(e->comm));
		bpf_ringbuf_submit(e, 0);
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
