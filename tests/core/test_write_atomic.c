/* ordo_write_file_atomic: a plain file is replaced whole (write, then rename); a destination that
 * is not a plain file (a device such as /dev/null, a pipe) is written to and stays what it is.
 * Checked on a FIFO in a temporary folder. */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "ordo/core.h"

int main(void) {
  char dir[] = "/tmp/ordo-test-atomic-XXXXXX";
  EXPECT(mkdtemp(dir) != NULL, "mkdtemp");
  char path[4200], fifo[4200];
  ordo_err e;
  snprintf(path, sizeof path, "%s/plain.txt", dir);
  EXPECT(ordo_write_file_atomic(path, "one", 3, &e) == 0, "%s", e.msg);
  EXPECT(ordo_write_file_atomic(path, "two!", 4, &e) == 0, "%s", e.msg);
  char *txt = ordo_read_file(path, NULL, &e);
  EXPECT(txt && strcmp(txt, "two!") == 0, "plain file: %s", txt ? txt : "");
  free(txt);

  snprintf(fifo, sizeof fifo, "%s/pipe", dir);
  EXPECT(mkfifo(fifo, 0600) == 0, "mkfifo");
  int fds[2];
  EXPECT(pipe(fds) == 0, "pipe");
  pid_t pid = fork();
  if (pid == 0) { /* the reader: the FIFO's bytes back through a pipe */
    close(fds[0]);
    int fd = open(fifo, O_RDONLY);
    char buf[64];
    ssize_t n;
    while (fd >= 0 && (n = read(fd, buf, sizeof buf)) > 0)
      if (write(fds[1], buf, (size_t)n) != n) _exit(2);
    _exit(fd >= 0 ? 0 : 1);
  }
  close(fds[1]);
  EXPECT(ordo_write_file_atomic(fifo, "through", 7, &e) == 0, "%s", e.msg);
  struct stat sb;
  int still = stat(fifo, &sb) == 0 && S_ISFIFO(sb.st_mode);
  EXPECT(still, "the FIFO was replaced by a file");
  if (!still) kill(pid, SIGKILL); /* its FIFO is gone: it would wait for a writer forever */
  char got[64] = {0};
  ssize_t n = still ? read(fds[0], got, sizeof got - 1) : 0;
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT(n == 7 && strcmp(got, "through") == 0, "read back '%s'", got);

  char cmd[4300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  return test_summary();
}
