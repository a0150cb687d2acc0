// SPDX-License-Identifier: GPL-2.0
/* Send an event through a perf event array for every execve (raw
 * tracepoint sys_enter), as the syscall_counter example does through a
 * ring buffer: the perf reader's test runs /bin/true and finds its event. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define NR_EXECVE 59 /* x86_64 */

struct exec_sample {
	__u32 pid;
	__u32 cpu_id;
	__u64 ts_ns;
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} samples SEC(".maps");

/* Keeps struct exec_sample in the object's BTF for the reader. */
struct exec_sample sample_type_anchor SEC(".bss");

SEC("raw_tracepoint/sys_enter")
int on_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	struct exec_sample s = {};

	if (ctx->args[1] != NR_EXECVE)
		return 0;
	s.pid = bpf_get_current_pid_tgid() >> 32;
	s.cpu_id = bpf_get_smp_processor_id();
	s.ts_ns = bpf_ktime_get_ns();
	bpf_get_current_comm(s.comm, sizeof(s.comm));
	bpf_perf_event_output(ctx, &samples, BPF_F_CURRENT_CPU, &s, sizeof(s));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
