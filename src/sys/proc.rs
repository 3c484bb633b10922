//! Process syscalls (signalfd, prctl, pidfd, ...).
