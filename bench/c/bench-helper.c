/* bench-helper: the small native pieces of bench/run, compiled at bench time.
 * Every time is CLOCK_MONOTONIC in nanoseconds, the clock upd.now reads too
 * (it is system-wide, so stamps taken in different processes compare).
 *
 *   startup N CMD ARGS...   N x (fork + exec CMD + wait4): "wall_ns maxrss_kb" per run
 *   floor DIR N             write temp + rename -> inotify reader wakes, N times,
 *                           one event in flight: latency ns per line
 *   exit FILE               writes "ns\n" to FILE, then _exit(0)
 *   daemon FILE             appends "pid ns\n" to FILE, then sleeps for ever
 *   ready FILE FD           writes "ns\n" to FILE, a newline to FD (s6 readiness),
 *                           then sleeps for ever
 *   after CMD ARGS...       runs CMD, waits for it, prints "ns\n" (its end)
 *   exitfloor N             N x (fork; the child sends its stamp down a pipe and
 *                           _exits; the parent wakes from waitpid): latency ns per line
 *   killfloor N             N x (fork a child that pauses; kill(SIGKILL) -> the
 *                           parent wakes from poll(pidfd)): latency ns per line
 *   now                     prints "ns\n"
 * Invoked as `run` (a symlink: an s6 or runit service's run file, which gets
 * no arguments), it is `daemon $BENCH_STAMPS`, or with BENCH_MODE=ready it is
 * `ready $BENCH_STAMP 3`; no shell comes between the supervisor and the stamp.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what) {
    perror(what);
    exit(111);
}

static void write_stamp(const char *file, int append, int with_pid, int64_t t) {
    char buf[64];
    int n = with_pid ? snprintf(buf, sizeof buf, "%d %lld\n", (int)getpid(), (long long)t)
                     : snprintf(buf, sizeof buf, "%lld\n", (long long)t);
    int fd = open(file, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0644);
    if (fd < 0) die(file);
    if (write(fd, buf, n) != n) die("write");
    close(fd);
}

static int startup(int n, char **argv) {
    int devnull = open("/dev/null", O_WRONLY);
    for (int i = 0; i < n; i++) {
        int64_t t0 = now_ns();
        pid_t pid = fork();
        if (pid < 0) die("fork");
        if (pid == 0) {
            dup2(devnull, 1);
            execvp(argv[0], argv);
            _exit(127);
        }
        int status;
        struct rusage ru;
        if (wait4(pid, &status, 0, &ru) < 0) die("wait4");
        int64_t t1 = now_ns();
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "startup: %s failed (status %d)\n", argv[0], status);
            return 1;
        }
        printf("%lld %ld\n", (long long)(t1 - t0), ru.ru_maxrss);
    }
    return 0;
}

static int floor_inotify(const char *dir, int n) {
    int ack[2], res[2];
    if (pipe(ack) < 0 || pipe(res) < 0) die("pipe");
    char target[PATH_MAX], tmp[PATH_MAX];
    snprintf(target, sizeof target, "%s/value", dir);
    snprintf(tmp, sizeof tmp, "%s/.value.tmp", dir);
    int in = inotify_init1(IN_CLOEXEC);
    if (in < 0) die("inotify_init1");
    if (inotify_add_watch(in, dir, IN_MOVED_TO) < 0) die("inotify_add_watch");
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) { /* the reader: wakes, stamps, reads the value, acks */
        char buf[4096];
        for (int i = 0; i < n; i++) {
            ssize_t r = read(in, buf, sizeof buf);
            int64_t t1 = now_ns();
            if (r <= 0) die("read inotify");
            int fd = open(target, O_RDONLY);
            if (fd < 0) die(target);
            char v[64] = {0};
            if (read(fd, v, sizeof v - 1) < 0) die("read value");
            close(fd);
            int64_t d = t1 - atoll(v);
            if (write(res[1], &d, sizeof d) != sizeof d) die("write");
            if (write(ack[1], "", 1) != 1) die("write");
        }
        _exit(0);
    }
    close(in);
    int64_t *lat = calloc(n, sizeof *lat);
    for (int i = 0; i < n; i++) {
        char v[64];
        int64_t t0 = now_ns();
        int len = snprintf(v, sizeof v, "%lld\n", (long long)t0);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) die(tmp);
        if (write(fd, v, len) != len) die("write");
        close(fd);
        if (rename(tmp, target) < 0) die("rename");
        char c;
        if (read(ack[0], &c, 1) != 1) die("read ack");
        if (read(res[0], &lat[i], sizeof lat[i]) != sizeof lat[i]) die("read result");
    }
    waitpid(pid, NULL, 0);
    for (int i = 0; i < n; i++) printf("%lld\n", (long long)lat[i]);
    return 0;
}

static int after(char **argv) {
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        execvp(argv[0], argv);
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) < 0) die("waitpid");
    int64_t t = now_ns();
    printf("%lld\n", (long long)t);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

static int exit_floor(int n) {
    for (int i = 0; i < n; i++) {
        int p[2];
        if (pipe(p) < 0) die("pipe");
        pid_t pid = fork();
        if (pid < 0) die("fork");
        if (pid == 0) {
            int64_t t = now_ns();
            if (write(p[1], &t, sizeof t) != sizeof t) _exit(1);
            _exit(0);
        }
        int status;
        if (waitpid(pid, &status, 0) < 0) die("waitpid");
        int64_t t1 = now_ns(), t0;
        if (read(p[0], &t0, sizeof t0) != sizeof t0) die("read stamp");
        close(p[0]);
        close(p[1]);
        printf("%lld\n", (long long)(t1 - t0));
    }
    return 0;
}

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

static int kill_floor(int n) {
    for (int i = 0; i < n; i++) {
        int p[2];
        if (pipe(p) < 0) die("pipe");
        pid_t pid = fork();
        if (pid < 0) die("fork");
        if (pid == 0) {
            close(p[0]);
            if (write(p[1], "", 1) != 1) _exit(1);
            for (;;) pause();
        }
        close(p[1]);
        char c;
        if (read(p[0], &c, 1) != 1) die("child did not start");
        close(p[0]);
        int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (pfd < 0) die("pidfd_open");
        usleep(1000); /* the child is asleep in pause() */
        int64_t t0 = now_ns();
        kill(pid, SIGKILL);
        struct pollfd pl = {.fd = pfd, .events = POLLIN};
        if (poll(&pl, 1, -1) != 1) die("poll");
        int64_t t1 = now_ns();
        waitpid(pid, NULL, 0);
        close(pfd);
        printf("%lld\n", (long long)(t1 - t0));
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    if (!strcmp(base, "run")) {
        const char *mode = getenv("BENCH_MODE");
        if (mode && !strcmp(mode, "ready")) {
            const char *stamp = getenv("BENCH_STAMP");
            if (!stamp) { fprintf(stderr, "run: BENCH_STAMP unset\n"); return 100; }
            int64_t t = now_ns();
            write_stamp(stamp, 0, 0, t);
            if (write(3, "\n", 1) != 1) die("write notification fd 3");
            close(3);
            for (;;) pause();
        }
        const char *stamps = getenv("BENCH_STAMPS");
        if (!stamps) { fprintf(stderr, "run: BENCH_STAMPS unset\n"); return 100; }
        write_stamp(stamps, 1, 1, now_ns());
        for (;;) pause();
    }
    if (argc == 3 && !strcmp(argv[1], "killfloor")) return kill_floor(atoi(argv[2]));
    if (argc == 3 && !strcmp(argv[1], "exitfloor")) return exit_floor(atoi(argv[2]));
    if (argc >= 4 && !strcmp(argv[1], "startup")) return startup(atoi(argv[2]), argv + 3);
    if (argc == 4 && !strcmp(argv[1], "floor")) return floor_inotify(argv[2], atoi(argv[3]));
    if (argc == 3 && !strcmp(argv[1], "exit")) {
        write_stamp(argv[2], 0, 0, now_ns());
        _exit(0);
    }
    if (argc == 3 && !strcmp(argv[1], "daemon")) {
        write_stamp(argv[2], 1, 1, now_ns());
        for (;;) pause();
    }
    if (argc == 4 && !strcmp(argv[1], "ready")) {
        int64_t t = now_ns();
        write_stamp(argv[2], 0, 0, t);
        int fd = atoi(argv[3]);
        if (write(fd, "\n", 1) != 1) die("write notification fd");
        close(fd);
        for (;;) pause();
    }
    if (argc >= 3 && !strcmp(argv[1], "after")) return after(argv + 2);
    if (argc == 2 && !strcmp(argv[1], "now")) {
        printf("%lld\n", (long long)now_ns());
        return 0;
    }
    fprintf(stderr, "usage: bench-helper startup N CMD... | floor DIR N | exit FILE | "
                    "daemon FILE | ready FILE FD | after CMD... | exitfloor N | killfloor N | now\n");
    return 100;
}
