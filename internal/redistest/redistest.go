// Package redistest starts a private redis-server for a test.
//
// Every server listens on a free loopback port with its data in the test's
// temporary directory and is shut down when the test ends. It never touches
// a Redis the developer already runs. When redis-server is not installed the
// test fails, saying how to install it: tests that need Redis never skip.
package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a running redis-server owned by one test.
type Server struct {
	Addr string // host:port on loopback
	Dir  string // working directory holding dump.rdb and the log

	mu     sync.Mutex
	bin    string
	conf   string
	cmd    *exec.Cmd
	exited chan error
}

// URL returns a redis:// URL for database 0 of the server.
func (s *Server) URL() string { return "redis://" + s.Addr + "/0" }

// Client returns a new client connected to the server; it is closed when the
// test ends.
func (s *Server) Client(tb testing.TB) *redis.Client {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	tb.Cleanup(func() { c.Close() })
	return c
}

// quietClient stands in for the Redis client library's logger, which is one
// for the whole process: it prints every failed dial to standard error, and
// the tests that stop a server on purpose would drown their own output.
type quietClient struct{}

func (quietClient) Printf(context.Context, string, ...any) {}

// Start starts a fresh redis-server for tb. Extra lines are appended to its
// configuration (for example "rdbcompression no").
func Start(tb testing.TB, extraConfig ...string) *Server {
	tb.Helper()
	redis.SetLogger(quietClient{})
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Fatalf("redis-server is not installed; the tests need a real Redis. " +
			"Install it with `sudo apt-get install redis-server` (Debian/Ubuntu) or `brew install redis` (macOS).")
	}
	dir := tb.TempDir()
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			tb.Fatalf("redistest: find a free port: %v", err)
		}
		s, err := launch(tb, bin, dir, port, extraConfig, false)
		if err == nil {
			return s
		}
		lastErr = err
	}
	tb.Fatalf("redistest: start redis-server: %v", lastErr)
	return nil
}

func launch(tb testing.TB, bin, dir string, port int, extra []string, sentinel bool) (*Server, error) {
	conf := []string{
		"bind 127.0.0.1",
		"port " + strconv.Itoa(port),
		"dir " + dir,
		"save \"\"",
		"appendonly no",
		"daemonize no",
		"logfile " + filepath.Join(dir, "redis.log"),
		"protected-mode yes",
	}
	if !sentinel {
		// A master otherwise waits 5 s for more replicas before it sends
		// one its data, at every (re)connection of a replica.
		conf = append(conf, "repl-diskless-sync-delay 0")
	}
	conf = append(conf, extra...)
	confPath := filepath.Join(dir, "redis-"+strconv.Itoa(port)+".conf")
	if err := os.WriteFile(confPath, []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
		return nil, err
	}
	args := []string{confPath}
	if sentinel {
		args = append(args, "--sentinel")
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.SysProcAttr = ownGroup()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return nil, fmt.Errorf("redis-server exited early: %v: %s", err, tail(filepath.Join(dir, "redis.log")))
		default:
		}
		if ping(addr) {
			s := &Server{Addr: addr, Dir: dir, bin: bin, conf: confPath, cmd: cmd, exited: exited}
			tb.Cleanup(s.Kill)
			return s, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	killGroup(cmd, exited)
	return nil, fmt.Errorf("redis-server on %s did not answer within 10s", addr)
}

// Kill stops the server at once with SIGKILL, as a crash would.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	killGroup(s.cmd, s.exited)
	s.cmd = nil
}

// ownGroup starts a server in a process group of its own, so that killing
// it also kills the children it forks (an RDB save, an AOF rewrite, a
// replica's sync), which would otherwise go on writing into its directory
// while the test removes it.
func ownGroup() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// killGroup kills cmd's process group with SIGKILL and returns once cmd has
// exited and no process of the group is left (or after 10 s).
func killGroup(cmd *exec.Cmd, exited <-chan error) {
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-exited
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		time.Sleep(5 * time.Millisecond)
	}
}

// Restart starts a killed server again on the same address, data directory
// and configuration (so with appendonly yes it reloads what it had
// persisted), and waits until it answers.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		tb.Fatal("redistest: Restart of a running server")
	}
	cmd := exec.Command(s.bin, s.conf)
	cmd.Dir = s.Dir
	cmd.SysProcAttr = ownGroup()
	if err := cmd.Start(); err != nil {
		tb.Fatalf("redistest: restart: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	s.cmd, s.exited = cmd, exited
	deadline := time.Now().Add(20 * time.Second)
	for !ping(s.Addr) {
		if time.Now().After(deadline) {
			tb.Fatalf("redistest: restarted server did not answer: %s", tail(filepath.Join(s.Dir, "redis.log")))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ping(addr string) bool {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	return c.Ping(ctx).Err() == nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var last []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		last = append(last, sc.Text())
		if len(last) > 5 {
			last = last[1:]
		}
	}
	return strings.Join(last, " | ")
}

// Cluster is a Redis Cluster on loopback, owned by one test.
type Cluster struct {
	// Nodes are every server of the cluster, masters and replicas. Which
	// is which is up to redis-cli (and to failovers): ask the cluster, as
	// ReplicasOf does.
	Nodes []*Server

	cli      string // redis-cli
	masters  int
	replicas int // per master
}

// Addrs returns the nodes' addresses, as seeds for a cluster client.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr
	}
	return out
}

// StartCluster starts masters redis-servers in cluster mode and joins them
// into one cluster with redis-cli --cluster create, waiting until every node
// reports the cluster as ok.
func StartCluster(tb testing.TB, masters int) *Cluster {
	tb.Helper()
	return StartClusterReplicas(tb, masters, 0)
}

// StartClusterReplicas starts a cluster of masters masters with
// replicasPerMaster replicas each (redis-cli --cluster create
// --cluster-replicas; Redis needs at least three masters). It returns once
// the cluster is fully formed: every node reports the cluster as ok, every
// replica has its link to its master up, and every master counts its
// replicas online, so that WAIT can count them at once.
func StartClusterReplicas(tb testing.TB, masters, replicasPerMaster int) *Cluster {
	tb.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		tb.Fatalf("redis-cli is not installed; install redis-tools (Debian: `sudo apt-get install redis-server` brings it)")
	}
	c := &Cluster{cli: cli, masters: masters, replicas: replicasPerMaster}
	conf := []string{"cluster-enabled yes", "cluster-config-file nodes.conf", "cluster-node-timeout 5000"}
	for i := 0; i < masters*(1+replicasPerMaster); i++ {
		c.Nodes = append(c.Nodes, Start(tb, conf...))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", strconv.Itoa(replicasPerMaster), "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		tb.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	c.WaitReady(tb)
	return c
}

// WaitReady waits, up to 30s, until every node reports the cluster as ok
// and, in a cluster with replicas, knows every node in its role, every
// replica has its link to its master up and every master counts its
// replicas online. Call it after restarting a node; every node must be
// running.
func (c *Cluster) WaitReady(tb testing.TB) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range c.Nodes {
		for {
			why := c.notReady(n)
			if why == "" {
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("redistest: cluster not ready on %s: %s", n.Addr, why)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// notReady says what node n still lacks, or "" when it is ready.
func (c *Cluster) notReady(n *Server) string {
	info := func(args ...string) string {
		_, port, _ := net.SplitHostPort(n.Addr)
		out, _ := exec.Command(c.cli, append([]string{"-h", "127.0.0.1", "-p", port}, args...)...).Output()
		return string(out)
	}
	if out := info("cluster", "info"); !strings.Contains(out, "cluster_state:ok") {
		return "cluster_state is not ok"
	}
	if c.replicas == 0 {
		return ""
	}
	// The roles set by redis-cli reach the other nodes by gossip, a
	// little after it returns.
	var masters, replicas int
	for _, line := range strings.Split(info("cluster", "nodes"), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		flags := "," + f[2] + ","
		switch {
		case strings.Contains(flags, ",fail") || strings.Contains(flags, ",handshake,") || strings.Contains(flags, ",noaddr,"):
			return "a node is " + f[2]
		case strings.Contains(flags, ",master,"):
			masters++
		case strings.Contains(flags, ",slave,"):
			replicas++
		}
	}
	if masters != c.masters || replicas != c.masters*c.replicas {
		return fmt.Sprintf("the node knows %d masters and %d replicas", masters, replicas)
	}
	repl := info("info", "replication")
	switch {
	case strings.Contains(repl, "role:slave"):
		if !strings.Contains(repl, "master_link_status:up") {
			return "the replica's link to its master is not up"
		}
	case strings.Contains(repl, "role:master"):
		if online := strings.Count(repl, ",state=online,"); online < c.replicas {
			return fmt.Sprintf("the master has %d of %d replicas online", online, c.replicas)
		}
	default:
		return "no answer to INFO replication"
	}
	return ""
}

// ReplicasOf returns the replicas of the master that owns key's slot now.
// Kill them to see what the master does without them; Restart them and
// call WaitReady to have them back.
func (c *Cluster) ReplicasOf(tb testing.TB, key string) []*Server {
	tb.Helper()
	ctx := context.Background()
	var lastErr error
	for _, n := range c.Nodes {
		// CLUSTER NODES, not CLUSTER SLOTS: the latter leaves out a
		// replica until gossip has carried its replication offset.
		rdb := redis.NewClient(&redis.Options{Addr: n.Addr, MaxRetries: -1})
		slot, err := rdb.ClusterKeySlot(ctx, key).Result()
		var nodes string
		if err == nil {
			nodes, err = rdb.ClusterNodes(ctx).Result()
		}
		rdb.Close()
		if err != nil {
			lastErr = err // a killed node: ask the next one
			continue
		}
		var lines [][]string
		for _, line := range strings.Split(nodes, "\n") {
			if f := strings.Fields(line); len(f) >= 8 {
				lines = append(lines, f)
			}
		}
		master := ""
		for _, f := range lines {
			for _, r := range f[8:] {
				lo, hi, ok := strings.Cut(r, "-")
				if !ok {
					hi = lo
				}
				from, err1 := strconv.ParseInt(lo, 10, 64)
				to, err2 := strconv.ParseInt(hi, 10, 64)
				if err1 == nil && err2 == nil && from <= slot && slot <= to {
					master = f[0]
				}
			}
		}
		if master == "" {
			tb.Fatalf("redistest: no node of the cluster owns the slot of %q", key)
		}
		var out []*Server
		for _, f := range lines {
			addr, _, _ := strings.Cut(f[1], "@")
			if f[3] != master {
				continue
			}
			for _, s := range c.Nodes {
				if s.Addr == addr {
					out = append(out, s)
				}
			}
		}
		return out
	}
	tb.Fatalf("redistest: no node of the cluster answered: %v", lastErr)
	return nil
}

// Failover makes replica its master's master with CLUSTER FAILOVER (the
// master first hands over all it has) and waits until it is master and the
// cluster is ready again, the old master now its replica. Clients that
// have not reloaded the map of slots still send the master's keys to the
// old master, which answers MOVED.
func (c *Cluster) Failover(tb testing.TB, replica *Server) {
	tb.Helper()
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: replica.Addr})
	defer rdb.Close()
	if err := rdb.Do(ctx, "CLUSTER", "FAILOVER").Err(); err != nil {
		tb.Fatalf("redistest: CLUSTER FAILOVER on %s: %v", replica.Addr, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if role, _ := rdb.Do(ctx, "ROLE").Slice(); len(role) > 0 && role[0] == "master" {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("redistest: %s was not master within 30s of CLUSTER FAILOVER", replica.Addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.WaitReady(tb)
}

// StartReplica starts a redis-server replicating master.
func StartReplica(tb testing.TB, master *Server, extraConfig ...string) *Server {
	tb.Helper()
	host, port, _ := net.SplitHostPort(master.Addr)
	return Start(tb, append([]string{"replicaof " + host + " " + port}, extraConfig...)...)
}

// StartSentinel starts a Redis Sentinel watching master under name, quick
// to act: it takes the master for down after a second without an answer,
// and one Sentinel is enough to fail over.
func StartSentinel(tb testing.TB, name string, master *Server) *Server {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Fatalf("redis-server is not installed; install it with `sudo apt-get install redis-server`")
	}
	host, port, _ := net.SplitHostPort(master.Addr)
	conf := []string{"sentinel monitor " + name + " " + host + " " + port + " 1",
		"sentinel down-after-milliseconds " + name + " 1000", "sentinel failover-timeout " + name + " 5000"}
	dir := tb.TempDir()
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		p, err := freePort()
		if err != nil {
			tb.Fatalf("redistest: find a free port: %v", err)
		}
		s, err := launch(tb, bin, dir, p, conf, true)
		if err == nil {
			return s
		}
		lastErr = err
	}
	tb.Fatalf("redistest: start redis sentinel: %v", lastErr)
	return nil
}
