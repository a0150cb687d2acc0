// SPDX-License-Identifier: GPL-2.0
/* The smallest CO-RE user: one field read through
 * __builtin_preserve_access_index on a kernel struct declared here (no
 * vmlinux.h), called from a static subprogram so that the relocate stage
 * must find CO-RE records in an appended subprogram as well as in the
 * program itself. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct task_struct {
	int pid;
	int tgid;
} __attribute__((preserve_access_index));

static __attribute__((noinline)) int read_tgid(struct task_struct *t)
{
	int tgid = 0;

	bpf_probe_read_kernel(&tgid, sizeof(tgid), &t->tgid);
	return tgid;
}

SEC("raw_tracepoint/sched_switch")
int core_pid(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	int pid = 0;

	bpf_probe_read_kernel(&pid, sizeof(pid), __builtin_preserve_access_index(&t->pid));
	return pid + read_tgid(t);
}

char _license[] SEC("license") = "GPL";
