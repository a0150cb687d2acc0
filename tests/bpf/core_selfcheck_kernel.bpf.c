// SPDX-License-Identifier: GPL-2.0
/* CO-RE self-check against the running kernel's own types (issue 12).
 *
 * Like core_selfcheck.bpf.c, but the types are the kernel's, declared here
 * with only the members read (no vmlinux.h): the program returns 0 under
 * BPF_PROG_TEST_RUN only when every relocation agrees with the kernel's BTF.
 * A raw_tp test run runs on the calling thread, so the current task is the
 * test's: its pid, tgid, parent's tgid, comm and state are known to the test
 * and passed in .rodata with the layout facts it computes from
 * /sys/kernel/btf/vmlinux.  CHECK(cond) returns the line of a failed check.
 * With check_task off, only the relocated constants are checked: the same
 * object then checks itself against another kernel's BTF (btf_custom_path).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define CHECK(cond) do { if (!(cond)) return __LINE__; } while (0)

struct list_head {
	struct list_head *next;
	struct list_head *prev;
} __attribute__((preserve_access_index));

struct task_struct {
	unsigned int flags;
	int pid;
	int tgid;
	struct task_struct *real_parent;
	char comm[16];
	unsigned int sched_reset_on_fork:1;
	struct list_head children;
} __attribute__((preserve_access_index));

/* The state member's two names (renamed in 5.14). */
struct task_struct___new {
	unsigned int __state;
} __attribute__((preserve_access_index));

struct task_struct___old {
	long state;
} __attribute__((preserve_access_index));

/* sk_buff's next sits two anonymous levels deep in the kernel. */
struct sk_buff {
	struct sk_buff *next;
	unsigned int len;
} __attribute__((preserve_access_index));

enum pid_type { PIDTYPE_PID, PIDTYPE_TGID, PIDTYPE_PGID, PIDTYPE_SID, PIDTYPE_MAX, PIDTYPE_BPFNB_NONE };

struct bpfnb_selfcheck_no_such_type {
	int x;
};

const volatile __u32 check_task = 0;
const volatile __s32 exp_pid = 0, exp_tgid = 0, exp_ppid = 0;
const volatile char exp_comm[16] = {};
const volatile __u32 exp_off_pid = 0, exp_off_tgid = 0, exp_off_comm1 = 0, exp_off_children_prev = 0;
const volatile __u32 exp_sz_flags = 0, exp_sz_comm = 0, exp_signed_pid = 0, exp_signed_flags = 0;
const volatile __u32 exp_rof_exists = 0, exp_rof_off = 0, exp_rof_sz = 0, exp_rof_lshift = 0, exp_rof_rshift = 0;
const volatile __u32 exp_has_new_state = 0, exp_has_old_state = 0;
const volatile __u32 exp_skb_off_next = 0, exp_skb_off_len = 0;
const volatile __u32 exp_id_local = 0, exp_id_task = 0, exp_size_task = 0, exp_match_list = 0;
const volatile __u32 exp_tgid_exists = 0, exp_max_exists = 0, exp_none_exists = 0;
const volatile __u64 exp_tgid_value = 0, exp_max_value = 0;

SEC("raw_tp/sys_enter")
int selfcheck_kernel(void *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	struct task_struct *z = 0;
	char comm[16] = {};

	/* values of the current task, through relocated probe reads (only when the
	 * target is the running kernel: another kernel's offsets read garbage here) */
	if (check_task) {
		CHECK(BPF_CORE_READ(t, pid) == exp_pid);
		CHECK(BPF_CORE_READ(t, tgid) == exp_tgid);
		CHECK(BPF_CORE_READ(t, real_parent, tgid) == exp_ppid);
		bpf_core_read(comm, sizeof(comm), &t->comm);
		for (int i = 0; i < 16; i++)
			CHECK(comm[i] == exp_comm[i]);
		if (bpf_core_field_exists(struct task_struct___new, __state))
			CHECK(BPF_CORE_READ((struct task_struct___new *)t, __state) == 0);	/* TASK_RUNNING */
		if (bpf_core_field_exists(struct task_struct___old, state))
			CHECK(BPF_CORE_READ((struct task_struct___old *)t, state) == 0);
		if (bpf_core_field_exists(struct task_struct, sched_reset_on_fork))
			CHECK(BPF_CORE_READ_BITFIELD_PROBED(t, sched_reset_on_fork) == 0);
	}

	/* field relocations */
	CHECK(bpf_core_field_offset(struct task_struct, pid) == exp_off_pid);
	CHECK(bpf_core_field_offset(struct task_struct, tgid) == exp_off_tgid);
	CHECK(bpf_core_field_offset(struct task_struct, comm[1]) == exp_off_comm1);
	CHECK(bpf_core_field_offset(struct task_struct, children.prev) == exp_off_children_prev);
	CHECK(bpf_core_field_size(struct task_struct, flags) == exp_sz_flags);
	CHECK(bpf_core_field_size(struct task_struct, comm) == exp_sz_comm);
	CHECK(__builtin_preserve_field_info(z->pid, BPF_FIELD_SIGNED) == exp_signed_pid);
	CHECK(__builtin_preserve_field_info(z->flags, BPF_FIELD_SIGNED) == exp_signed_flags);
	CHECK(bpf_core_field_exists(struct task_struct, sched_reset_on_fork) == exp_rof_exists);
	if (bpf_core_field_exists(struct task_struct, sched_reset_on_fork)) {
		CHECK(__builtin_preserve_field_info(z->sched_reset_on_fork, BPF_FIELD_BYTE_OFFSET) == exp_rof_off);
		CHECK(__builtin_preserve_field_info(z->sched_reset_on_fork, BPF_FIELD_BYTE_SIZE) == exp_rof_sz);
		CHECK(__builtin_preserve_field_info(z->sched_reset_on_fork, BPF_FIELD_LSHIFT_U64) == exp_rof_lshift);
		CHECK(__builtin_preserve_field_info(z->sched_reset_on_fork, BPF_FIELD_RSHIFT_U64) == exp_rof_rshift);
	}
	CHECK(bpf_core_field_exists(struct task_struct___new, __state) == exp_has_new_state);
	CHECK(bpf_core_field_exists(struct task_struct___old, state) == exp_has_old_state);
	CHECK(bpf_core_field_offset(struct sk_buff, next) == exp_skb_off_next);
	CHECK(bpf_core_field_offset(struct sk_buff, len) == exp_skb_off_len);

	/* type relocations */
	CHECK(bpf_core_type_id_local(struct task_struct) == exp_id_local);
	CHECK(bpf_core_type_id_kernel(struct task_struct) == exp_id_task);
	CHECK(bpf_core_type_size(struct task_struct) == exp_size_task);
	CHECK(bpf_core_type_exists(struct task_struct) == 1);
	CHECK(bpf_core_type_exists(struct bpfnb_selfcheck_no_such_type) == 0);
	CHECK(bpf_core_type_matches(struct list_head) == exp_match_list);

	/* enum relocations */
	CHECK(bpf_core_enum_value_exists(enum pid_type, PIDTYPE_TGID) == exp_tgid_exists);
	CHECK(bpf_core_enum_value_exists(enum pid_type, PIDTYPE_MAX) == exp_max_exists);
	CHECK(bpf_core_enum_value_exists(enum pid_type, PIDTYPE_BPFNB_NONE) == exp_none_exists);
	CHECK(bpf_core_enum_value(enum pid_type, PIDTYPE_TGID) == exp_tgid_value);
	CHECK(bpf_core_enum_value(enum pid_type, PIDTYPE_MAX) == exp_max_value);
	return 0;
}

char _license[] SEC("license") = "GPL";
