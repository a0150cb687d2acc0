// SPDX-License-Identifier: GPL-2.0
/* Loader parity, CO-RE side (issue 12, items 2, 3 and 6).
 *
 * good       tp_btf/sys_enter reading task_struct.tgid through CO-RE: the
 *            attach target always comes from the running kernel, the tgid
 *            offset from whatever target BTF CO-RE is given;
 * ambiguous  reads task_struct.pid: against a target holding a second
 *            task_struct flavour with pid elsewhere, the record has two
 *            candidates that disagree (libbpf: "relo #N: ... ambiguous");
 * poisoned   an unguarded read of a field no kernel has: the instruction is
 *            poisoned (call 0xbad2310) and the verifier rejects it;
 * poisoned_ld  an unguarded enumerator value no kernel has: a poisoned
 *            ld_imm64.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_struct {
	int pid;
	int tgid;
	int bpfnb_parity_no_such_field;
} __attribute__((preserve_access_index));

enum pid_type { PIDTYPE_PID, BPFNB_PARITY_NO_SUCH_PIDTYPE = 77 };

__u64 seen = 0;

SEC("tp_btf/sys_enter")
int good(__u64 *ctx)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	int tgid = 0;

	bpf_probe_read_kernel(&tgid, sizeof(tgid), __builtin_preserve_access_index(&t->tgid));
	seen += tgid;
	return 0;
}

SEC("tp_btf/sys_enter")
int ambiguous(__u64 *ctx)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	int pid = 0;

	bpf_probe_read_kernel(&pid, sizeof(pid), __builtin_preserve_access_index(&t->pid));
	seen += pid;
	return 0;
}

SEC("tp_btf/sys_enter")
int poisoned(__u64 *ctx)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	int v = 0;

	bpf_probe_read_kernel(&v, sizeof(v), __builtin_preserve_access_index(&t->bpfnb_parity_no_such_field));
	seen += v;
	return 0;
}

SEC("tp_btf/sys_enter")
int poisoned_ld(__u64 *ctx)
{
	seen += bpf_core_enum_value(enum pid_type, BPFNB_PARITY_NO_SUCH_PIDTYPE);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
