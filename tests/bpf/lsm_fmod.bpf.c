// SPDX-License-Identifier: GPL-2.0
/* Trampoline-based programs this kernel refuses at load (EPERM): an LSM hook
 * and an fmod_ret on an error-injectable function.  Their attach BTF ids are
 * resolved first, so the refusal is the kernel's answer, not ours. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct file;

SEC("lsm/file_open")
int BPF_PROG(deny_nothing, struct file *file)
{
	return 0;
}

SEC("fmod_ret/security_file_open")
int BPF_PROG(pass_through, struct file *file, int ret)
{
	return ret;
}

char LICENSE[] SEC("license") = "GPL";
