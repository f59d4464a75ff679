// Package deploy_test checks deploy/ as far as this machine allows without a Google Cloud
// project: every file parses, and the names in it (topics, subscriptions, environment variables,
// service accounts, roles, commands) agree with what the code uses.
package deploy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/maestro-sql/maestro/internal/config"
	"github.com/maestro-sql/maestro/internal/engine"
)

const (
	indexesFile = "firestore/firestore.indexes.json"
	// Subscription settings internal/cloud uses when it creates subscriptions itself (tests,
	// a project without Terraform); the deployed ones must behave the same.
	taskAckDeadline       = "60"
	completionAckDeadline = "30"
	maxDeliveries         = "10"
)

func terraform(t *testing.T) []*hclBlock {
	t.Helper()
	blocks, err := parseHCLFiles("terraform")
	require.NoError(t, err)
	return blocks
}

// resources returns the resources of type typ by label.
func resources(blocks []*hclBlock, typ string) map[string]*hclBlock {
	out := map[string]*hclBlock{}
	for _, b := range blocks {
		if b.Type == "resource" && len(b.Labels) == 2 && b.Labels[0] == typ {
			out[b.Labels[1]] = b
		}
	}
	return out
}

func TestEveryFileParses(t *testing.T) {
	t.Parallel()
	var yamls, jsons int
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		switch filepath.Ext(path) {
		case ".yaml", ".yml":
			yamls++
			dec := yaml.NewDecoder(bytes.NewReader(data))
			for {
				var doc any
				err := dec.Decode(&doc)
				if errors.Is(err, io.EOF) {
					break
				}
				require.NoError(t, err, path)
			}
		case ".json":
			jsons++
			var doc any
			require.NoError(t, json.Unmarshal(data, &doc), path)
		}
		return nil
	})
	require.NoError(t, err)
	require.GreaterOrEqual(t, yamls, 5, "run/*.yaml and cloudbuild.yaml")
	terraform(t)

	if _, err := exec.LookPath("terraform"); err == nil {
		// terraform fmt parses HCL fully (it needs no providers and no network).
		out, err := exec.Command("terraform", "fmt", "-check", "-no-color", "terraform").CombinedOutput()
		require.NoError(t, err, "terraform fmt -check: %s", out)
	}
}

func TestPubSubNamesMatchTheEngine(t *testing.T) {
	t.Parallel()
	blocks := terraform(t)
	topics := resources(blocks, "google_pubsub_topic")
	topicName := map[string]string{} // resource label -> topic name
	var names []string
	for label, b := range topics {
		name, ok := b.Str("name")
		require.True(t, ok, "topic %s has a literal name", label)
		topicName[label] = name
		names = append(names, name)
	}
	require.ElementsMatch(t, []string{engine.TasksTopic, engine.TasksDeadLetterTopic, engine.CompletionsTopic, engine.CompletionsDeadLetterTopic}, names)

	refersTo := func(expr string) string {
		m := regexp.MustCompile(`^google_pubsub_topic\.([a-z_]+)\.(?:id|name)$`).FindStringSubmatch(expr)
		require.NotNil(t, m, "%q names a topic resource", expr)
		return topicName[m[1]]
	}
	subs := map[string]*hclBlock{}
	for label, b := range resources(blocks, "google_pubsub_subscription") {
		name, ok := b.Str("name")
		require.True(t, ok, "subscription %s has a literal name", label)
		subs[name] = b
	}
	for _, want := range []struct{ sub, topic, dead, ackDeadline, pushPath string }{
		{engine.TasksSubscription, engine.TasksTopic, engine.TasksDeadLetterTopic, taskAckDeadline, "/push/tasks"},
		{engine.CompletionsSubscription, engine.CompletionsTopic, engine.CompletionsDeadLetterTopic, completionAckDeadline, "/push/completions"},
	} {
		b := subs[want.sub]
		require.NotNil(t, b, "subscription %s", want.sub)
		require.Equal(t, want.topic, refersTo(b.Attrs["topic"]), want.sub)
		require.Equal(t, want.ackDeadline, b.Attrs["ack_deadline_seconds"], want.sub)
		dl := b.Block("dead_letter_policy")
		require.NotNil(t, dl, "%s dead-letters", want.sub)
		require.Equal(t, want.dead, refersTo(dl.Attrs["dead_letter_topic"]), want.sub)
		require.Equal(t, maxDeliveries, dl.Attrs["max_delivery_attempts"], want.sub)
		rp := b.Block("retry_policy")
		require.NotNil(t, rp, "%s has a retry policy", want.sub)
		require.NotEmpty(t, rp.Attrs["minimum_backoff"])
		require.NotEmpty(t, rp.Attrs["maximum_backoff"])
		push := b.Block("push_config")
		require.NotNil(t, push, "%s can be pushed", want.sub)
		require.True(t, strings.HasSuffix(push.Attrs["push_endpoint"], want.pushPath+`"`), push.Attrs["push_endpoint"])
		require.NotNil(t, push.Block("oidc_token"), "pushes carry an OIDC token")
		require.Contains(t, routes(t), "POST "+want.pushPath, "the service serves the push endpoint")
	}
	// A dead-letter topic with no subscription would drop what it receives.
	for _, dead := range []string{engine.TasksDeadLetterTopic, engine.CompletionsDeadLetterTopic} {
		var kept bool
		for _, b := range subs {
			kept = kept || refersTo(b.Attrs["topic"]) == dead
		}
		require.True(t, kept, "%s has a subscription keeping dead letters", dead)
	}
}

// grant is one IAM role given to one service account, on a resource.
type grant struct{ role, on string }

func grants(t *testing.T, blocks []*hclBlock) map[string][]grant {
	t.Helper()
	accounts := resources(blocks, "google_service_account")
	out := map[string][]grant{}
	for _, b := range blocks {
		if b.Type != "resource" || !strings.HasSuffix(b.Labels[0], "_iam_member") {
			continue
		}
		role, ok := b.Str("role")
		require.True(t, ok, "%s.%s has a literal role", b.Labels[0], b.Labels[1])
		require.NotContains(t, []string{"roles/owner", "roles/editor", "roles/pubsub.editor", "roles/pubsub.admin", "roles/run.admin"}, role)
		on := b.Labels[0] + ":" + firstNonEmpty(b.Attrs["topic"], b.Attrs["subscription"], b.Attrs["bucket"], b.Attrs["name"], b.Attrs["service_account_id"], b.Attrs["project"])
		members := serviceAccountRefs(b.Attrs["member"])
		if strings.Contains(b.Attrs["member"], "each.value") {
			members = serviceAccountRefs(b.Attrs["for_each"])
		}
		for _, m := range members {
			require.Contains(t, accounts, m, "%s.%s grants to an account that exists", b.Labels[0], b.Labels[1])
			id, _ := accounts[m].Str("account_id")
			out[id] = append(out[id], grant{role: role, on: on})
		}
	}
	return out
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func TestServiceAccountsHaveTheirRoles(t *testing.T) {
	t.Parallel()
	blocks := terraform(t)
	accounts := resources(blocks, "google_service_account")
	for _, b := range blocks {
		for _, expr := range allExprs(b) {
			for _, ref := range serviceAccountRefs(expr) {
				require.Contains(t, accounts, ref, "%s %v references google_service_account.%s", b.Type, b.Labels, ref)
			}
		}
	}
	g := grants(t, blocks)
	project := "google_project_iam_member:var.project"
	tasksTopic := "google_pubsub_topic_iam_member:google_pubsub_topic.tasks.name"
	completionsTopic := "google_pubsub_topic_iam_member:google_pubsub_topic.completions.name"
	tasksSub := "google_pubsub_subscription_iam_member:google_pubsub_subscription.tasks.name"
	completionsSub := "google_pubsub_subscription_iam_member:google_pubsub_subscription.completions.name"
	// The scheduler reports what reaches the dead-letter subscriptions.
	tasksDeadSub := "google_pubsub_subscription_iam_member:google_pubsub_subscription.tasks_dead.name"
	completionsDeadSub := "google_pubsub_subscription_iam_member:google_pubsub_subscription.completions_dead.name"
	bucket := "google_storage_bucket_iam_member:google_storage_bucket.maestro.name"
	for account, want := range map[string][]grant{
		"maestro-scheduler": {
			{"roles/datastore.user", project},
			{"roles/pubsub.publisher", tasksTopic},
			{"roles/pubsub.subscriber", completionsSub},
			{"roles/pubsub.subscriber", tasksDeadSub},
			{"roles/pubsub.subscriber", completionsDeadSub},
		},
		"maestro-worker": {
			{"roles/datastore.user", project},
			{"roles/bigquery.jobUser", project},
			{"roles/bigquery.dataEditor", project},
			{"roles/storage.objectAdmin", bucket},
			{"roles/pubsub.subscriber", tasksSub},
			{"roles/pubsub.publisher", completionsTopic},
		},
		"maestro-api": {
			{"roles/datastore.user", project},
			{"roles/pubsub.publisher", tasksTopic},
			{"roles/bigquery.jobUser", project},
		},
		"maestro-push": {
			{"roles/run.invoker", "google_cloud_run_v2_service_iam_member:google_cloud_run_v2_service.scheduler.name"},
			{"roles/run.invoker", "google_cloud_run_v2_service_iam_member:google_cloud_run_v2_service.worker[0].name"},
		},
		"maestro-tick": {
			{"roles/run.invoker", "google_cloud_run_v2_service_iam_member:google_cloud_run_v2_service.scheduler.name"},
		},
	} {
		for _, w := range want {
			require.Contains(t, g[account], w, "%s has %s", account, w.role)
		}
	}
	// Nothing beyond these and the few documented extras in iam.tf.
	extras := map[string][]grant{
		"maestro-scheduler": {{"roles/pubsub.viewer", completionsSub}, {"roles/pubsub.viewer", tasksDeadSub},
			{"roles/pubsub.viewer", completionsDeadSub}},
		"maestro-worker": {
			{"roles/pubsub.viewer", tasksSub},
			{"roles/iam.serviceAccountTokenCreator", "google_service_account_iam_member:google_service_account.worker.name"},
		},
		"maestro-api": {
			{"roles/storage.objectViewer", bucket},
			// Uploads of external tables, under external/ only (an IAM condition), by signed URLs
			// the API signs as itself.
			{"roles/storage.objectAdmin", bucket},
			{"roles/iam.serviceAccountTokenCreator", "google_service_account_iam_member:google_service_account.api.name"},
		},
	}
	for account, got := range g {
		for _, gr := range got {
			if slices.Contains(extras[account], gr) {
				continue
			}
			require.Contains(t, []string{
				"roles/datastore.user", "roles/pubsub.publisher", "roles/pubsub.subscriber", "roles/bigquery.jobUser",
				"roles/bigquery.dataEditor", "roles/storage.objectAdmin", "roles/run.invoker",
			}, gr.role, "%s: unexpected role %s on %s", account, gr.role, gr.on)
		}
	}
}

func allExprs(b *hclBlock) []string {
	var out []string
	for _, v := range b.Attrs {
		out = append(out, v)
	}
	for _, c := range b.Blocks {
		out = append(out, allExprs(c)...)
	}
	return out
}

// runDefinition is what the tests compare between Terraform and the Knative YAML.
type runDefinition struct {
	service config.Service
	account string // service account id
	env     map[string]string
}

func terraformRunDefinitions(t *testing.T, blocks []*hclBlock) map[string]runDefinition {
	t.Helper()
	accounts := resources(blocks, "google_service_account")
	out := map[string]runDefinition{}
	for _, typ := range []string{"google_cloud_run_v2_service", "google_cloud_run_v2_worker_pool"} {
		for label, b := range resources(blocks, typ) {
			name, ok := b.Str("name")
			require.True(t, ok, "%s.%s has a literal name", typ, label)
			tmpl := b.Block("template")
			require.NotNil(t, tmpl, name)
			refs := serviceAccountRefs(tmpl.Attrs["service_account"])
			require.Len(t, refs, 1, "%s runs as one of the accounts", name)
			account, _ := accounts[refs[0]].Str("account_id")
			env := map[string]string{}
			for _, c := range tmpl.All("containers") {
				for _, e := range c.All("env") {
					n, ok := e.Str("name")
					require.True(t, ok, "%s: env names are literals", name)
					env[n] = e.Attrs["value"]
				}
			}
			out[typ+"/"+name] = runDefinition{service: serviceOf(t, name), account: account, env: env}
		}
	}
	return out
}

func serviceOf(t *testing.T, runName string) config.Service {
	t.Helper()
	svc := config.Service(strings.TrimPrefix(runName, "maestro-"))
	require.Contains(t, []config.Service{config.Scheduler, config.Worker, config.API}, svc, runName)
	return svc
}

type knative struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		Template struct {
			Spec struct {
				ServiceAccountName string `yaml:"serviceAccountName"`
				Containers         []struct {
					Image string `yaml:"image"`
					Env   []struct {
						Name  string `yaml:"name"`
						Value string `yaml:"value"`
					} `yaml:"env"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

func TestRunDefinitionsReadOnlyDocumentedVariables(t *testing.T) {
	t.Parallel()
	blocks := terraform(t)
	fromTerraform := terraformRunDefinitions(t, blocks)
	require.Len(t, fromTerraform, 4, "scheduler, api, worker service (push) and worker pool (pull)")

	check := func(where string, d runDefinition) {
		for name := range d.env {
			v := documented(name)
			require.NotNil(t, v, "%s sets %s, which internal/config does not read", where, name)
			require.Contains(t, v.Services, d.service, "%s sets %s, which the %s service does not read", where, name, d.service)
			require.NotEqual(t, "PORT", name, "%s: Cloud Run sets PORT itself", where)
		}
		for _, v := range config.Vars {
			if v.Required && slices.Contains(v.Services, d.service) {
				require.Contains(t, d.env, v.Name, "%s lacks required %s", where, v.Name)
			}
		}
	}
	for where, d := range fromTerraform {
		check("terraform "+where, d)
	}

	// The Knative YAML defines the same services with the same variables and accounts.
	for file, tfKey := range map[string]string{
		"run/scheduler.yaml":   "google_cloud_run_v2_service/maestro-scheduler",
		"run/api.yaml":         "google_cloud_run_v2_service/maestro-api",
		"run/worker-push.yaml": "google_cloud_run_v2_service/maestro-worker",
		"run/worker-pool.yaml": "google_cloud_run_v2_worker_pool/maestro-worker",
	} {
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		var k knative
		require.NoError(t, yaml.Unmarshal(data, &k), file)
		if strings.HasSuffix(tfKey, "worker_pool/maestro-worker") {
			require.Equal(t, "WorkerPool", k.Kind, file)
		} else {
			require.Equal(t, "serving.knative.dev/v1", k.APIVersion, file)
			require.Equal(t, "Service", k.Kind, file)
		}
		require.Len(t, k.Spec.Template.Spec.Containers, 1, file)
		c := k.Spec.Template.Spec.Containers[0]
		svc := serviceOf(t, k.Metadata.Name)
		require.Contains(t, c.Image, "/maestro/"+string(svc)+":", file)
		account, _, _ := strings.Cut(k.Spec.Template.Spec.ServiceAccountName, "@")
		d := runDefinition{service: svc, account: account, env: map[string]string{}}
		for _, e := range c.Env {
			d.env[e.Name] = e.Value
			if strings.HasSuffix(e.Name, "_SERVICE_ACCOUNT") {
				id, _, _ := strings.Cut(e.Value, "@")
				require.Contains(t, accountIDs(blocks), id, "%s: %s names an account Terraform creates", file, e.Name)
			}
		}
		check(file, d)
		tf := fromTerraform[tfKey]
		require.Equal(t, tf.account, d.account, "%s runs as the account Terraform gives it", file)
		require.ElementsMatch(t, keys(tf.env), keys(d.env), "%s sets the variables Terraform sets", file)
		if mode, ok := d.env["MAESTRO_WORKER_MODE"]; ok {
			require.Equal(t, `"`+mode+`"`, tf.env["MAESTRO_WORKER_MODE"], file)
			require.Equal(t, mode == "pull", k.Kind == "WorkerPool", "%s: pull workers run in a worker pool", file)
		}
	}
}

func documented(name string) *config.Var {
	for i := range config.Vars {
		if config.Vars[i].Name == name {
			return &config.Vars[i]
		}
	}
	return nil
}

func accountIDs(blocks []*hclBlock) []string {
	var ids []string
	for _, b := range resources(blocks, "google_service_account") {
		id, _ := b.Str("account_id")
		ids = append(ids, id)
	}
	return ids
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestTickJobCallsTheScheduler(t *testing.T) {
	t.Parallel()
	blocks := terraform(t)
	jobs := resources(blocks, "google_cloud_scheduler_job")
	require.Len(t, jobs, 1)
	for _, job := range jobs {
		target := job.Block("http_target")
		require.NotNil(t, target)
		require.Equal(t, `"POST"`, target.Attrs["http_method"])
		require.Equal(t, `"${local.run_url["maestro-scheduler"]}/tick"`, target.Attrs["uri"])
		oidc := target.Block("oidc_token")
		require.NotNil(t, oidc, "the tick carries an OIDC token")
		require.Equal(t, []string{"tick"}, serviceAccountRefs(oidc.Attrs["service_account_email"]))
		require.Equal(t, `local.run_url["maestro-scheduler"]`, oidc.Attrs["audience"], "the audience the scheduler checks")
	}
	require.Contains(t, routes(t), "POST /tick")
}

// routes returns the scheduler and worker services' source, where their routes are registered.
func routes(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../internal/service/services.go")
	require.NoError(t, err)
	return string(data)
}

func TestDockerfilesBuildStaticImagesFromScratch(t *testing.T) {
	t.Parallel()
	cloudbuild, err := os.ReadFile("cloudbuild.yaml")
	require.NoError(t, err)
	for _, svc := range []string{"scheduler", "worker", "api"} {
		path := "docker/" + svc + ".Dockerfile"
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		text := string(data)
		lines := strings.Split(text, "\n")
		lastFrom := -1
		for i, l := range lines {
			if strings.HasPrefix(strings.ToUpper(strings.TrimSpace(l)), "FROM ") {
				lastFrom = i
			}
		}
		require.GreaterOrEqual(t, lastFrom, 1, "%s is multi-stage", path)
		require.Equal(t, "FROM scratch", strings.TrimSpace(lines[lastFrom]), path)
		final := strings.Join(lines[lastFrom:], "\n")
		require.Contains(t, final, "/etc/ssl/certs/ca-certificates.crt", "%s copies CA certificates", path)
		user := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindStringSubmatch(final)
		require.NotNil(t, user, "%s sets a USER", path)
		require.NotContains(t, []string{"0", "root", "0:0", "root:root"}, user[1], path)
		require.Contains(t, final, "ENTRYPOINT")

		build := regexp.MustCompile(`(?s)CGO_ENABLED=0.*?go build ([^\n]*)`).FindStringSubmatch(text)
		require.NotNil(t, build, "%s builds with CGO_ENABLED=0", path)
		require.Contains(t, build[1], "-trimpath", path)
		require.Contains(t, build[1], `-ldflags "-s -w"`, path)
		require.Contains(t, build[1], "-tags disable_grpc_modules,grpcnotrace", path, "the size the README reports is with these tags")
		require.True(t, strings.HasSuffix(strings.TrimSpace(build[1]), "./cmd/"+svc), "%s builds ./cmd/%s: %s", path, svc, build[1])
		st, err := os.Stat("../cmd/" + svc)
		require.NoError(t, err)
		require.True(t, st.IsDir())
		require.Contains(t, string(cloudbuild), "deploy/"+path, "cloudbuild.yaml builds %s", path)
	}
}

func TestFirestoreIndexesAreDeployed(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(indexesFile)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("%s does not exist yet", indexesFile)
	}
	require.NoError(t, err)
	var file struct {
		Indexes []struct {
			CollectionGroup string `json:"collectionGroup"`
			QueryScope      string `json:"queryScope"`
			Fields          []struct {
				FieldPath   string `json:"fieldPath"`
				Order       string `json:"order"`
				ArrayConfig string `json:"arrayConfig"`
			} `json:"fields"`
		} `json:"indexes"`
	}
	require.NoError(t, json.Unmarshal(data, &file))
	for _, ix := range file.Indexes {
		require.NotEmpty(t, ix.CollectionGroup, "firestore.tf reads collectionGroup")
		require.NotEmpty(t, ix.Fields)
		for _, f := range ix.Fields {
			require.NotEmpty(t, f.FieldPath, "firestore.tf reads fieldPath")
			require.True(t, (f.Order == "") != (f.ArrayConfig == ""), "a field has an order or an arrayConfig")
		}
	}
	var referenced bool
	for _, b := range terraform(t) {
		for _, expr := range allExprs(b) {
			referenced = referenced || strings.Contains(expr, "../"+indexesFile)
		}
	}
	require.True(t, referenced, "Terraform deploys %s", indexesFile)
	require.NotEmpty(t, resources(terraform(t), "google_firestore_index"))
}

func TestReadmeListsEveryVariable(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("README.md")
	require.NoError(t, err)
	require.Contains(t, string(data), config.Markdown(), "deploy/README.md's table is config.Markdown()'s output; paste it again")
}
