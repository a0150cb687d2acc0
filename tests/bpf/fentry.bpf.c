// SPDX-License-Identifier: GPL-2.0
/* Tracing programs that need kernel BTF at load: fentry, fexit, tp_btf.
 * This kernel refuses fentry/fexit with EPERM; tp_btf loads. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct filename;

__u64 calls = 0;

SEC("fentry/do_unlinkat")
int BPF_PROG(enter_unlinkat, int dfd, struct filename *name)
{
	calls++;
	return 0;
}

SEC("fexit/do_unlinkat")
int BPF_PROG(exit_unlinkat, int dfd, struct filename *name, long ret)
{
	calls += ret != 0;
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, _Bool preempt)
{
	calls++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
