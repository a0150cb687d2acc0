// SPDX-License-Identifier: GPL-2.0
/* Tracing programs that count what the test process (or its child) does.
 *
 * `target_tgid` (a .rodata knob set before load) restricts the syscall
 * counters to one process, so other activity on the machine does not
 * disturb the counts.  Sections name their attach points where libbpf
 * would auto-attach them. */
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define NR_GETPPID 110 /* x86_64 */

const volatile __u32 target_tgid = 0;

__u64 tp_hits = 0;
__u64 raw_hits = 0;
__u64 btf_hits = 0;
__u64 uprobe_hits = 0;
__u64 uprobe_arg_sum = 0;
__u64 uretprobe_hits = 0;
__u64 uretprobe_ret_sum = 0;
__u64 kprobe_hits = 0;
__u64 libc_getpid_hits = 0;
__u64 perf_samples = 0;

static __always_inline int mine(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int tp_getppid(void *ctx)
{
	if (mine())
		__sync_fetch_and_add(&tp_hits, 1);
	return 0;
}

SEC("raw_tp/sys_enter")
int raw_getppid(struct bpf_raw_tracepoint_args *ctx)
{
	if (mine() && ctx->args[1] == NR_GETPPID)
		__sync_fetch_and_add(&raw_hits, 1);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(btf_getppid, struct pt_regs *regs, long id)
{
	if (mine() && id == NR_GETPPID)
		__sync_fetch_and_add(&btf_hits, 1);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(on_call, int x)
{
	__sync_fetch_and_add(&uprobe_hits, 1);
	__sync_fetch_and_add(&uprobe_arg_sum, x);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(on_return, int ret)
{
	__sync_fetch_and_add(&uretprobe_hits, 1);
	__sync_fetch_and_add(&uretprobe_ret_sum, ret);
	return 0;
}

/* Auto-attached from its section: getpid() in the C library, found in the library directories. */
SEC("uprobe/libc.so.6:getpid")
int libc_getpid(void *ctx)
{
	if (mine())
		__sync_fetch_and_add(&libc_getpid_hits, 1);
	return 0;
}

SEC("kprobe/do_unlinkat")
int on_unlinkat(void *ctx)
{
	__sync_fetch_and_add(&kprobe_hits, 1);
	return 0;
}

SEC("perf_event")
int on_sample(void *ctx)
{
	__sync_fetch_and_add(&perf_samples, 1);
	return 0;
}

/* Test-run subjects: a raw tracepoint gets its args from ctx_in... */
SEC("raw_tp")
int add_args(struct bpf_raw_tracepoint_args *ctx)
{
	return ctx->args[0] + ctx->args[1];
}

/* ...and a syscall program reads and writes its context. */
struct sum_args {
	__u32 a;
	__u32 b;
	__u64 sum;
};

SEC("syscall")
int sum(struct sum_args *args)
{
	args->sum = (__u64)args->a + args->b;
	return 7;
}

char LICENSE[] SEC("license") = "GPL";
