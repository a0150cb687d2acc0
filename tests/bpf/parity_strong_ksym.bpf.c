// SPDX-License-Identifier: GPL-2.0
/* Loader parity, per-program isolation of a *strong* __ksym the kernel
 * lacks (issue 12, item 8): only the program that calls it fails.
 * libbpf refuses the whole object at extern resolution. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

extern void bpfnb_parity_no_such_strong_kfunc(void) __ksym;

__u64 hits = 0;

SEC("tp_btf/sched_switch")
int uses_missing(__u64 *ctx)
{
	bpfnb_parity_no_such_strong_kfunc();
	return 0;
}

SEC("tp_btf/sched_switch")
int independent(__u64 *ctx)
{
	hits++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
