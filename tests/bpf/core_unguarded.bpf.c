// SPDX-License-Identifier: GPL-2.0
/* CO-RE reads whose portability depends on the kernel, left unguarded on
 * purpose: init_private_fork_class is a task_struct bitfield only some
 * kernels have (the snapshot's 6.18 build, not Debian's 6.1 or 6.12), and
 * the enum value is one every kernel has.  Where the field is missing the
 * read is poisoned and the verifier refuses the program; the portability
 * check must predict exactly that (tests/test_core_outcome.py). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

struct task_struct {
	int pid;
	unsigned int init_private_fork_class:4;
} __attribute__((preserve_access_index));

enum pid_type {
	PIDTYPE_PID,
	PIDTYPE_TGID,
	PIDTYPE_MAX = 4,
};

unsigned long long seen[3];

SEC("tp_btf/sched_switch")
int BPF_PROG(everywhere, _Bool preempt, struct task_struct *prev)
{
	seen[0] = BPF_CORE_READ(prev, pid);
	seen[1] = bpf_core_enum_value(enum pid_type, PIDTYPE_MAX);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(where_the_field_is, _Bool preempt, struct task_struct *prev)
{
	seen[2] = BPF_CORE_READ_BITFIELD_PROBED(prev, init_private_fork_class);
	return 0;
}

char _license[] SEC("license") = "GPL";
