// SPDX-License-Identifier: GPL-2.0
/* __ksym externs of every kind a loader resolves from the running kernel:
 * kfuncs (by BTF id), a typed per-CPU variable (by BTF id; the kernel then
 * needs its address from kallsyms, which CONFIG_KALLSYMS_ALL=n lacks here:
 * the load fails with ENOENT), and a weak untyped symbol (kallsyms address,
 * 0 when absent). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;
extern const int bpf_prog_active __ksym;
extern const void bpf_link_fops __ksym __weak;

__u64 count = 0;

SEC("tp_btf/sched_switch")
int BPF_PROG(kfunc_only, _Bool preempt)
{
	bpf_rcu_read_lock();
	count++;
	bpf_rcu_read_unlock();
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(typed_ksym, _Bool preempt)
{
	const int *active = bpf_this_cpu_ptr(&bpf_prog_active);

	count += *active;
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(weak_untyped, _Bool preempt)
{
	count += (__u64)&bpf_link_fops;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
