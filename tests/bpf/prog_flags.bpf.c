// SPDX-License-Identifier: GPL-2.0
/* Programs whose section sets load flags: SEC("syscall") is sleepable (the
 * kernel refuses a non-sleepable syscall program), SEC("xdp.frags") sets
 * BPF_F_XDP_HAS_FRAGS (it may then read the length of a multi-buffer
 * packet), and an iterator whose attach target is the bpf_iter_task func. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__u64 runs = 0;

SEC("syscall")
int count_run(void *ctx)
{
	runs++;
	return 0;
}

SEC("xdp.frags")
int frags_len(struct xdp_md *ctx)
{
	return bpf_xdp_get_buff_len(ctx) > 64 ? XDP_PASS : XDP_DROP;
}

/* The iterator context as the kernel's BTF declares it (no vmlinux.h here). */
struct bpf_iter_meta;
struct task_struct;
struct bpf_iter__task {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
};

SEC("iter/task")
int walk_tasks(struct bpf_iter__task *ctx)
{
	if (ctx->task)
		runs++;
	return 0;
}

char _license[] SEC("license") = "GPL";
