package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/vigil-hrd/vigil/store"
)

// Whether a Redis user can read a key is not only whether it may GET it: a
// command that copies or derives from a key (ZUNIONSTORE, SORT … STORE,
// COPY, a script…) into a key the user may read reads it just as well.
// Redis marks every key argument that a command reads the value of — to
// return it, copy it or compute from it — with the ACCESS flag of its key
// specification, and its ACL asks read permission for exactly those. So
// the tests below take every command of the server's own command table,
// put a key the user must not read in each ACCESS position, and ask the
// server (ACL DRYRUN) whether the user may run it: none may run. Then they
// run the usual copy commands for real and check that nothing came out.

// hidden lists, for each user of users.acl, keys whose values it must not
// read: for the staff, one key of each kind store.Keys marks StaffReads
// false (chat state, the inbox, subscribers, a broadcast's recipients, the
// bot's identity…); for both, keys of another application.
func hidden(user string) []string {
	keys := []string{"other-app:key", "vigil:not-a-vigil-key"}
	if user == "vigil-staff" {
		for _, k := range store.Keys() {
			if !k.StaffReads {
				keys = append(keys, sample(k))
			}
		}
	}
	return keys
}

// readable is a key both users may read and write.
const readable = "vigil:{q}:probe"

// keySpec is one key specification of a command (COMMAND DOCS calls them
// key_specs), as far as building an invocation needs it.
type keySpec struct {
	flags                        []string
	beginType, keyword           string
	index, startFrom             int
	findType                     string
	keyNumIdx, firstKey, keyStep int
}

// command is one entry of the server's command table.
type command struct {
	name  []string // "object", "encoding" for a subcommand
	arity int
	specs []keySpec
}

// commandTable reads COMMAND: every command and subcommand the server has.
func commandTable(t *testing.T, admin *redis.Client) []command {
	t.Helper()
	raw, err := admin.Do(context.Background(), "COMMAND").Slice()
	if err != nil {
		t.Fatal(err)
	}
	var out []command
	var add func(entry any)
	add = func(entry any) {
		e := entry.([]any)
		name, _ := e[0].(string)
		arity, _ := e[1].(int64)
		c := command{name: strings.Split(strings.ToLower(name), "|"), arity: int(arity)}
		if len(e) > 8 {
			for _, s := range e[8].([]any) {
				c.specs = append(c.specs, parseSpec(dict(s)))
			}
		}
		out = append(out, c)
		if len(e) > 9 {
			for _, sub := range e[9].([]any) {
				add(sub)
			}
		}
	}
	for _, entry := range raw {
		add(entry)
	}
	if len(out) < 200 {
		t.Fatalf("COMMAND listed %d commands; that is not a whole table", len(out))
	}
	return out
}

func parseSpec(m map[string]any) keySpec {
	var s keySpec
	for _, f := range m["flags"].([]any) {
		s.flags = append(s.flags, strings.ToUpper(f.(string)))
	}
	begin := dict(m["begin_search"])
	s.beginType, _ = begin["type"].(string)
	bs := dict(begin["spec"])
	s.index = num(bs["index"])
	s.keyword, _ = bs["keyword"].(string)
	s.startFrom = num(bs["startfrom"])
	find := dict(m["find_keys"])
	s.findType, _ = find["type"].(string)
	fs := dict(find["spec"])
	s.keyNumIdx, s.firstKey, s.keyStep = num(fs["keynumidx"]), num(fs["firstkey"]), num(fs["keystep"])
	return s
}

// dict reads a map from RESP3 (a map) or RESP2 (a flat list of pairs).
func dict(v any) map[string]any {
	out := map[string]any{}
	switch m := v.(type) {
	case map[any]any:
		for k, v := range m {
			out[fmt.Sprint(k)] = v
		}
	case []any:
		for i := 0; i+1 < len(m); i += 2 {
			out[fmt.Sprint(m[i])] = m[i+1]
		}
	}
	return out
}

func num(v any) int {
	n, _ := v.(int64)
	return int(n)
}

// reads reports whether the spec reads the value of its keys.
func (s keySpec) reads() bool { return slices.Contains(s.flags, "ACCESS") }

// invocation builds the arguments of c with key as the first key of spec
// and readable everywhere else, long enough for c's arity; ok is false
// when the spec cannot be placed (Redis says it does not know where its
// keys are).
func (c command) invocation(spec keySpec, key string) (args []string, ok bool) {
	args = slices.Clone(c.name)
	put := func(i int, v string) {
		for len(args) <= i {
			args = append(args, readable)
		}
		args[i] = v
	}
	var first int
	switch spec.beginType {
	case "index":
		first = spec.index
	case "keyword":
		if spec.startFrom < 1 {
			return nil, false // searched from the end: only MIGRATE's KEYS
		}
		put(spec.startFrom, spec.keyword)
		first = spec.startFrom + 1
	default:
		return nil, false
	}
	switch spec.findType {
	case "range":
		put(first, key)
	case "keynum":
		put(first+spec.keyNumIdx, "1")
		put(first+spec.firstKey, key)
	default:
		return nil, false
	}
	need := c.arity
	if need < 0 {
		need = -need
	}
	for len(args) < need {
		args = append(args, readable)
	}
	return args, true
}

// granted returns the commands (and subcommands, "client|setinfo") the
// user's ACL rules allow by name. users.acl grants by name only, never by
// category (TestACLGrantsByName).
func granted(t *testing.T, admin *redis.Client, user string) map[string]bool {
	t.Helper()
	m := dict(admin.Do(context.Background(), "ACL", "GETUSER", user).Val())
	rules, _ := m["commands"].(string)
	out := map[string]bool{}
	for _, r := range strings.Fields(rules) {
		if name, ok := strings.CutPrefix(r, "+"); ok {
			out[strings.ToLower(name)] = true
		}
	}
	return out
}

// TestACLGrantsByName checks that users.acl grants commands by name only:
// no category, so that no command reaches a user without being named.
func TestACLGrantsByName(t *testing.T) {
	srv := startACLServer(t)
	for _, user := range []string{"vigil-bot", "vigil-staff"} {
		m := dict(srv.admin.Do(context.Background(), "ACL", "GETUSER", user).Val())
		rules, _ := m["commands"].(string)
		for _, r := range strings.Fields(rules) {
			if strings.HasPrefix(r, "+@") || strings.HasPrefix(r, "allcommands") {
				t.Errorf("%s: %q grants a category; grant commands by name", user, r)
			}
		}
	}
}

// TestACLNoCommandReadsAHiddenKey asks the server, for every command in
// its table and every position where the command reads a key's value,
// whether each user may run it on a key it must not read. None may.
func TestACLNoCommandReadsAHiddenKey(t *testing.T) {
	ctx := context.Background()
	srv := startACLServer(t)
	table := commandTable(t, srv.admin)
	for _, user := range []string{"vigil-bot", "vigil-staff"} {
		t.Run(user, func(t *testing.T) {
			allowed := granted(t, srv.admin, user)
			type probe struct {
				args  []string
				cmd   *redis.Cmd
				check bool // a control: the same command on a readable key
			}
			var probes []probe
			for _, c := range table {
				name := strings.Join(c.name, "|")
				for _, spec := range c.specs {
					if !spec.reads() {
						continue
					}
					control, ok := c.invocation(spec, readable)
					if !ok {
						if allowed[name] || allowed[c.name[0]] {
							t.Errorf("%s may run %s, whose keys this test cannot place; check it by hand", user, name)
						}
						continue
					}
					if allowed[name] || allowed[c.name[0]] {
						// If the control is refused, the invocation is
						// wrong and the probes below prove nothing.
						probes = append(probes, probe{args: control, check: true})
					}
					for _, key := range hidden(user) {
						args, _ := c.invocation(spec, key)
						probes = append(probes, probe{args: args})
					}
				}
			}
			_, err := srv.admin.Pipelined(ctx, func(p redis.Pipeliner) error {
				for i := range probes {
					args := []any{"ACL", "DRYRUN", user}
					for _, a := range probes[i].args {
						args = append(args, a)
					}
					probes[i].cmd = p.Do(ctx, args...)
				}
				return nil
			})
			if err != nil {
				t.Fatalf("ACL DRYRUN: %v", err)
			}
			controls, hiddenRefused := 0, 0
			for _, pr := range probes {
				answer, err := pr.cmd.Text()
				line := strings.Join(pr.args, " ")
				switch {
				case err != nil:
					t.Errorf("ACL DRYRUN %s %s: %v (the test built a wrong invocation)", user, line, err)
				case pr.check && answer != "OK":
					t.Errorf("%s may run %s, but not on a key it may read (%s): the test built a wrong invocation", user, pr.args[0], answer)
				case pr.check:
					controls++
				case answer == "OK":
					t.Errorf("%s may run `%s`, which reads a key it must not read", user, line)
				default:
					hiddenRefused++
				}
			}
			t.Logf("%s: %d invocations on %d hidden keys refused; %d commands it may run read a key and were checked", user, hiddenRefused, len(hidden(user)), controls)
			if controls == 0 {
				t.Errorf("%s: no command it may run was checked", user)
			}
		})
	}
}

// TestACLNothingCopiesOutAHiddenKey runs, as each user, the commands that
// copy or derive a key's value into another key, or return it, from keys
// the user must not read into a key it may read. Each must be refused and
// leave nothing behind. (TestACLNoCommandReadsAHiddenKey covers every
// command; this runs the usual suspects for real.)
func TestACLNothingCopiesOutAHiddenKey(t *testing.T) {
	ctx := context.Background()
	srv := startACLServer(t)
	const secret = "secret-handle-0001"
	// A hidden key of each type, holding secret.
	fill := map[string]func(key string) error{
		"set":    func(k string) error { return srv.admin.SAdd(ctx, k, secret).Err() },
		"zset":   func(k string) error { return srv.admin.ZAdd(ctx, k, redis.Z{Score: 1, Member: secret}).Err() },
		"hash":   func(k string) error { return srv.admin.HSet(ctx, k, secret, secret).Err() },
		"list":   func(k string) error { return srv.admin.RPush(ctx, k, secret).Err() },
		"string": func(k string) error { return srv.admin.Set(ctx, k, secret, 0).Err() },
		"stream": func(k string) error {
			return srv.admin.XAdd(ctx, &redis.XAddArgs{Stream: k, Values: []any{"sealed", secret}}).Err()
		},
	}
	typeOf := map[string]string{}
	for _, k := range store.Keys() {
		typeOf[sample(k)] = k.Type
	}
	const dst = readable
	// {src} stands for the hidden key.
	copies := [][]string{
		{"ZUNIONSTORE", dst, "1", "{src}"}, {"ZINTERSTORE", dst, "1", "{src}"}, {"ZDIFFSTORE", dst, "1", "{src}"},
		{"ZRANGESTORE", dst, "{src}", "0", "-1"}, {"SUNIONSTORE", dst, "{src}"}, {"SINTERSTORE", dst, "{src}"},
		{"SDIFFSTORE", dst, "{src}"}, {"COPY", "{src}", dst}, {"RENAME", "{src}", dst}, {"SMOVE", "{src}", dst, secret},
		{"LMOVE", "{src}", dst, "LEFT", "LEFT"}, {"SORT", "{src}", "ALPHA", "STORE", dst},
		{"GEORADIUS", "{src}", "0", "0", "20000", "km", "STORE", dst}, {"GEOSEARCHSTORE", dst, "{src}", "FROMLONLAT", "0", "0", "BYRADIUS", "20000", "km"},
		{"DUMP", "{src}"}, {"OBJECT", "ENCODING", "{src}"}, {"SMEMBERS", "{src}"}, {"SRANDMEMBER", "{src}"},
		{"SSCAN", "{src}", "0"}, {"SUNION", "{src}"}, {"SINTER", "{src}"}, {"ZUNION", "1", "{src}"}, {"ZRANGE", "{src}", "0", "-1"},
		{"HGETALL", "{src}"}, {"HKEYS", "{src}"}, {"GET", "{src}"}, {"GETRANGE", "{src}", "0", "-1"}, {"LRANGE", "{src}", "0", "-1"},
		{"XRANGE", "{src}", "-", "+"}, {"XREVRANGE", "{src}", "+", "-"}, {"XREAD", "STREAMS", "{src}", "0"},
		{"EVAL", "return redis.call('SMEMBERS', KEYS[1])", "1", "{src}"},
		{"EVAL", "return redis.call('ZUNIONSTORE', KEYS[1], 1, KEYS[2])", "2", dst, "{src}"},
		{"EVAL", "return redis.call('ZUNIONSTORE', ARGV[1], 1, ARGV[2])", "0", dst, "{src}"},
		{"FCALL", "f", "1", "{src}"},
	}
	for _, tc := range []struct {
		user, password string
	}{{"vigil-staff", testStaffPass}, {"vigil-bot", testBotPassword}} {
		t.Run(tc.user, func(t *testing.T) {
			c := srv.client(t, tc.user, tc.password)
			for _, src := range hidden(tc.user) {
				typ := typeOf[src]
				if typ == "" {
					typ = "set"
				}
				for _, cmd := range copies {
					must(t, srv.admin.Del(ctx, src, dst).Err(), "admin: clear")
					must(t, fill[typ](src), "admin: fill "+src)
					args := make([]any, len(cmd))
					for i, a := range cmd {
						args[i] = strings.ReplaceAll(a, "{src}", src)
					}
					line := strings.Join(strs(args), " ")
					reply, err := c.Do(ctx, args...).Result()
					if err == nil || !isRefusal(err) {
						t.Errorf("%s `%s` on a %s: %v, %v; want NOPERM", tc.user, line, typ, reply, err)
					}
					if strings.Contains(fmt.Sprint(reply), secret) {
						t.Errorf("%s `%s`: the reply holds what %s holds", tc.user, line, src)
					}
					if n := srv.admin.Exists(ctx, dst).Val(); n != 0 {
						t.Errorf("%s `%s` wrote %s", tc.user, line, dst)
					}
					if n := srv.admin.Exists(ctx, src).Val(); n != 1 {
						t.Errorf("%s `%s` changed %s", tc.user, line, src)
					}
				}
			}
			must(t, srv.admin.Del(ctx, dst).Err(), "admin: clear")
		})
	}
}
