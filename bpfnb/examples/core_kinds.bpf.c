// SPDX-License-Identifier: GPL-2.0
/* Every CO-RE relocation kind, against kernel types declared here (no
 * vmlinux.h): field offsets through pointer chains, anonymous members and
 * arrays, field size/signedness, bitfields, field existence (true, and
 * false through a ___flavor struct with a field the kernel lacks), type
 * existence/size/ids/matches, enum value existence and value.  The failing
 * relocations are guarded (on every kernel: a field one kernel has may be
 * missing in the next), so the object still loads: the verifier never
 * reaches the poisoned instructions.  One subprogram carries records too. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

typedef int pid_t;
typedef _Bool bool;
typedef unsigned long long u64;

struct sched_entity {
	u64 sum_exec_runtime;
	u64 vruntime;
} __attribute__((preserve_access_index));

struct mm_struct {
	struct {
		unsigned long arg_start;
		unsigned long arg_end;
		unsigned long env_start;
	};
} __attribute__((preserve_access_index));

struct task_struct {
	unsigned int __state;
	unsigned int flags;
	int prio;
	struct sched_entity se;
	struct mm_struct *mm;
	unsigned int in_execve:1;
	unsigned int init_private_fork_class:4;
	pid_t pid;
	pid_t tgid;
	struct task_struct *real_parent;
	u64 start_time;
	char comm[16];
} __attribute__((preserve_access_index));

/* a kernel before 5.14 called __state "state" and had it as a long */
struct task_struct___old {
	long state;
} __attribute__((preserve_access_index));

/* a local copy with a field of a different width: the load is resized */
struct task_struct___wide {
	unsigned long long flags;
} __attribute__((preserve_access_index));

/* a type no kernel has */
struct bpfnb_no_such_type {
	int x;
};

enum pid_type {
	PIDTYPE_PID,
	PIDTYPE_TGID,
	PIDTYPE_PGID,
	PIDTYPE_SID,
	PIDTYPE_MAX,
};

/* an enumerator no kernel has, in a flavor of a real enum */
enum pid_type___future {
	PIDTYPE_BPFNB___future = 7,
};

/* matches the kernel's layout member for member (by names and kinds) */
struct list_head {
	struct list_head *next;
	struct list_head *prev;
};

/* does not "match": the kernel's callback_head has no member "cookie" */
struct callback_head {
	struct callback_head *next;
	long cookie;
};

u64 out[32];

static __attribute__((noinline)) u64 parent_pid(struct task_struct *t)
{
	return BPF_CORE_READ(t, real_parent, pid);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(core_kinds, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct task_struct___old *old = (void *)prev;
	struct task_struct___wide *wide = (void *)prev;

	/* direct (BTF-typed) loads: LDX offsets */
	out[0] = prev->pid;
	out[1] = prev->se.sum_exec_runtime;
	out[2] = wide->flags;                   /* LDX size u64 -> u32 */
	/* probed reads through pointer chains, anonymous struct, array */
	out[3] = BPF_CORE_READ(prev, mm, arg_start);
	out[4] = BPF_CORE_READ(prev, real_parent, real_parent, tgid);
	out[5] = BPF_CORE_READ(prev, comm[3]);
	out[6] = parent_pid(next);
	/* field info */
	out[7] = bpf_core_field_size(prev->prio);
	out[8] = __builtin_preserve_field_info(prev->prio, BPF_FIELD_SIGNED);
	out[9] = __builtin_preserve_field_info(prev->flags, BPF_FIELD_SIGNED);
	out[10] = bpf_core_field_offset(prev->start_time);
	out[11] = bpf_core_field_exists(prev->__state);
	out[12] = bpf_core_field_exists(old->state);
	if (bpf_core_field_exists(old->state))
		out[13] = BPF_CORE_READ(old, state);  /* poisoned, unreachable */
	/* bitfields */
	out[14] = BPF_CORE_READ_BITFIELD(prev, in_execve);
	/* a 4-bit field only some kernels have (Debian's 6.1 and 6.12 lack it):
	 * unguarded, the object would not load there */
	if (bpf_core_field_exists(prev->init_private_fork_class))
		out[15] = BPF_CORE_READ_BITFIELD_PROBED(prev, init_private_fork_class);
	/* types */
	out[16] = bpf_core_type_exists(struct task_struct);
	out[17] = bpf_core_type_exists(struct bpfnb_no_such_type);
	out[18] = bpf_core_type_size(struct task_struct);
	out[19] = bpf_core_type_size(struct bpfnb_no_such_type);
	out[20] = bpf_core_type_id_kernel(struct task_struct);
	out[21] = bpf_core_type_id_local(struct task_struct);
	out[22] = bpf_core_type_matches(struct list_head);
	out[23] = bpf_core_type_matches(struct callback_head);
	out[24] = bpf_core_type_id_kernel(pid_t);
	/* enums */
	out[25] = bpf_core_enum_value_exists(enum pid_type, PIDTYPE_SID);
	out[26] = bpf_core_enum_value(enum pid_type, PIDTYPE_MAX);
	out[27] = bpf_core_enum_value_exists(enum pid_type___future, PIDTYPE_BPFNB___future);
	if (bpf_core_enum_value_exists(enum pid_type___future, PIDTYPE_BPFNB___future))
		out[28] = bpf_core_enum_value(enum pid_type___future, PIDTYPE_BPFNB___future);
	return 0;
}

char _license[] SEC("license") = "GPL";
