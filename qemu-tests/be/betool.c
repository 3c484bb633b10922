/* betool: the few system tools the big-endian router needs besides upd.
 * Debian has no big-endian MIPS userland (no busybox, no iproute2), so this
 * small multi-call program is built with `zig cc -target mips-linux-musl
 * -static` by qemu-tests/be/build-initrd. It speaks rtnetlink itself, in the
 * host (big-endian) byte order, independently of upd's own netlink code: it
 * is the reference the scenarios check upd against.
 *
 *   betool init PROGRAM ARGS...     mount proc, sys, devtmpfs, devpts, tmpfs
 *                                   on /run and /tmp; lo and eth0 up; then exec PROGRAM
 *                                   (as PID 1: `betool init /bin/upd run ...`)
 *   betool link IFNAME up|down      set the administrative state
 *   betool addr add|del IFNAME ADDRESS/LENGTH     IPv4 or IPv6
 *   betool veth NAME PEER           create a veth pair
 *   betool del IFNAME               delete a link
 *   betool kill SIGNAL PID          kill(2), SIGNAL a number
 *   betool sleep SECONDS            sleep (for orphans and waits)
 *   betool poweroff                 sync and power off
 * Exit 0 on success; 1 with `betool: what: why` on stderr.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(const char *what, const char *why) {
  fprintf(stderr, "betool: %s: %s\n", what, why);
  return 1;
}

/* A request being built: header, fixed part, attributes (nested ones too). */
struct req {
  struct nlmsghdr h;
  char buf[1024];
};

static struct rtattr *attr(struct req *r, int type, const void *data, int len) {
  struct rtattr *a = (struct rtattr *)((char *)&r->h + NLMSG_ALIGN(r->h.nlmsg_len));
  a->rta_type = type;
  a->rta_len = RTA_LENGTH(len);
  if (len) memcpy(RTA_DATA(a), data, len);
  r->h.nlmsg_len = NLMSG_ALIGN(r->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
  return a;
}

static void nest_end(struct req *r, struct rtattr *a) {
  a->rta_len = (char *)&r->h + r->h.nlmsg_len - (char *)a;
}

static void *fixed(struct req *r, int len) {
  void *p = (char *)&r->h + NLMSG_ALIGN(r->h.nlmsg_len);
  memset(p, 0, len);
  r->h.nlmsg_len = NLMSG_ALIGN(r->h.nlmsg_len) + NLMSG_ALIGN(len);
  return p;
}

static void begin(struct req *r, int type, int flags) {
  memset(r, 0, sizeof *r);
  r->h.nlmsg_len = NLMSG_HDRLEN;
  r->h.nlmsg_type = type;
  r->h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
  r->h.nlmsg_seq = 1;
}

/* Sends the request and waits for the kernel's ack. */
static int talk(struct req *r, const char *what) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return fail(what, strerror(errno));
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
  if (sendto(fd, &r->h, r->h.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof sa) < 0) {
    close(fd);
    return fail(what, strerror(errno));
  }
  char buf[4096];
  ssize_t n = recv(fd, buf, sizeof buf, 0);
  close(fd);
  if (n < 0) return fail(what, strerror(errno));
  struct nlmsghdr *h = (struct nlmsghdr *)buf;
  if (n < (ssize_t)sizeof *h || h->nlmsg_type != NLMSG_ERROR) return fail(what, "no ack from the kernel");
  int err = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
  return err ? fail(what, strerror(-err)) : 0;
}

static int index_of(const char *name) {
  int i = if_nametoindex(name);
  if (!i) fail(name, "no such interface");
  return i;
}

static int cmd_link(const char *name, const char *state) {
  int up = !strcmp(state, "up");
  if (!up && strcmp(state, "down")) return fail("link", "expected up or down");
  int i = index_of(name);
  if (!i) return 1;
  struct req r;
  begin(&r, RTM_NEWLINK, 0);
  struct ifinfomsg *ifi = fixed(&r, sizeof *ifi);
  ifi->ifi_index = i;
  ifi->ifi_flags = up ? IFF_UP : 0;
  ifi->ifi_change = IFF_UP;
  return talk(&r, name);
}

static int cmd_addr(const char *op, const char *name, const char *cidr) {
  int add = !strcmp(op, "add");
  if (!add && strcmp(op, "del")) return fail("addr", "expected add or del");
  char a[64];
  const char *slash = strchr(cidr, '/');
  if (!slash || slash - cidr >= (int)sizeof a) return fail(cidr, "expected ADDRESS/LENGTH");
  memcpy(a, cidr, slash - cidr);
  a[slash - cidr] = 0;
  unsigned char bytes[16];
  int family = strchr(a, ':') ? AF_INET6 : AF_INET;
  if (inet_pton(family, a, bytes) != 1) return fail(cidr, "bad address");
  int i = index_of(name);
  if (!i) return 1;
  struct req r;
  begin(&r, add ? RTM_NEWADDR : RTM_DELADDR, add ? NLM_F_CREATE | NLM_F_EXCL : 0);
  struct ifaddrmsg *ifa = fixed(&r, sizeof *ifa);
  ifa->ifa_family = family;
  ifa->ifa_prefixlen = atoi(slash + 1);
  ifa->ifa_index = i;
  int len = family == AF_INET ? 4 : 16;
  attr(&r, IFA_LOCAL, bytes, len);
  attr(&r, IFA_ADDRESS, bytes, len);
  if (family == AF_INET6) {
    unsigned int flags = IFA_F_NODAD; /* usable at once: no duplicate detection */
    attr(&r, IFA_FLAGS, &flags, sizeof flags);
  }
  return talk(&r, cidr);
}

static int cmd_veth(const char *name, const char *peer) {
  struct req r;
  begin(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  fixed(&r, sizeof(struct ifinfomsg));
  attr(&r, IFLA_IFNAME, name, strlen(name) + 1);
  struct rtattr *info = attr(&r, IFLA_LINKINFO, NULL, 0);
  attr(&r, IFLA_INFO_KIND, "veth", 4);
  struct rtattr *data = attr(&r, IFLA_INFO_DATA, NULL, 0);
  struct rtattr *p = attr(&r, VETH_INFO_PEER, NULL, 0);
  fixed(&r, sizeof(struct ifinfomsg));
  attr(&r, IFLA_IFNAME, peer, strlen(peer) + 1);
  nest_end(&r, p);
  nest_end(&r, data);
  nest_end(&r, info);
  return talk(&r, name);
}

static int cmd_del(const char *name) {
  int i = index_of(name);
  if (!i) return 1;
  struct req r;
  begin(&r, RTM_DELLINK, 0);
  struct ifinfomsg *ifi = fixed(&r, sizeof *ifi);
  ifi->ifi_index = i;
  return talk(&r, name);
}

static void mnt(const char *type, const char *dir, const char *opts) {
  mkdir(dir, 0755);
  if (mount(type, dir, type, 0, opts) < 0 && errno != EBUSY)
    fprintf(stderr, "betool: mount %s on %s: %s\n", type, dir, strerror(errno));
}

static int cmd_init(char **argv) {
  mnt("proc", "/proc", NULL);
  mnt("sysfs", "/sys", NULL);
  mnt("devtmpfs", "/dev", NULL);
  /* No /dev/console in the initramfs: the kernel started us without stdio. */
  if (fcntl(1, F_GETFD) < 0) {
    int fd = open("/dev/console", O_RDWR);
    if (fd >= 0) {
      dup2(fd, 0), dup2(fd, 1), dup2(fd, 2);
      if (fd > 2) close(fd);
    }
  }
  mnt("devpts", "/dev/pts", NULL);
  mnt("tmpfs", "/run", "mode=0755,size=8m");
  mnt("tmpfs", "/tmp", "size=8m");
  cmd_link("lo", "up");
  /* The router's WAN NIC (the harness's first, MAC 52:54:00:00:00:01). */
  if (if_nametoindex("eth0")) cmd_link("eth0", "up");
  execv(argv[0], argv);
  return fail(argv[0], strerror(errno));
}

int main(int argc, char **argv) {
  const char *cmd = argc > 1 ? argv[1] : "";
  /* As the kernel's /init (a link to betool): PID 1 becomes `upd run`. */
  if (!strcmp(argv[0], "/init")) {
    char *run[] = {"/bin/upd", "run", "--config", "/etc/upd/services.fnl", NULL};
    return cmd_init(run);
  }
  if (!strcmp(cmd, "init") && argc > 2) return cmd_init(argv + 2);
  if (!strcmp(cmd, "link") && argc == 4) return cmd_link(argv[2], argv[3]);
  if (!strcmp(cmd, "addr") && argc == 5) return cmd_addr(argv[2], argv[3], argv[4]);
  if (!strcmp(cmd, "veth") && argc == 4) return cmd_veth(argv[2], argv[3]);
  if (!strcmp(cmd, "del") && argc == 3) return cmd_del(argv[2]);
  if (!strcmp(cmd, "kill") && argc == 4)
    return kill(atoi(argv[3]), atoi(argv[2])) ? fail("kill", strerror(errno)) : 0;
  if (!strcmp(cmd, "sleep") && argc == 3) return sleep(atoi(argv[2])), 0;
  if (!strcmp(cmd, "poweroff")) {
    sync();
    reboot(RB_POWER_OFF);
    return fail("poweroff", strerror(errno));
  }
  fprintf(stderr, "usage: betool init PROGRAM ARGS... | link IF up|down | addr add|del IF ADDR/LEN"
                  " | veth NAME PEER | del IF | kill SIG PID | sleep SECS | poweroff\n");
  return 2;
}
