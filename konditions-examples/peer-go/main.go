// The Go peer of the PostgresWriter operator: the same operator written
// the way a kubebuilder user writes the PostgresWriter tutorial, on
// controller-runtime, with nothing tuned. It is the baseline of the scale
// benchmark (konditions-examples/benches/operator_scale.rs), which builds
// it once per machine and runs it beside the Rust binary.
//
// Configuration, from flags whose defaults come from the environment (the
// Rust binary's variables where it has them):
//   - PSQL_HOST, PSQL_PORT, PSQL_DBNAME, PSQL_USER, PSQL_PASSWORD and
//     PSQL_SSLMODE (default disable): PostgreSQL, the tutorial's variables;
//   - KUBECONFIG (or in-cluster): Kubernetes;
//   - WATCH_NAMESPACE: the one namespace watched (the cache's
//     DefaultNamespaces), also where the leader-election Lease lives;
//   - LEADER_ELECT (default true): leader election as scaffolded;
//   - RECONCILE_CONCURRENCY (default 1, controller-runtime's): the
//     controller's MaxConcurrentReconciles, and the size of the database
//     pool, as the Rust binary sizes its own;
//   - METRICS_ADDR (default :8080): controller-runtime's metrics server
//     (plain HTTP; the scaffold's authenticated HTTPS needs a cluster's
//     TokenReview, which the benchmark does not exercise);
//   - HEALTH_ADDR (default :8081): /healthz and /readyz (ready once the
//     PostgresWriter cache has synced).
//
// No Events, no lock: what the tutorial does.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"

	_ "github.com/lib/pq"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

const finalizer = "demo.yash.com/finalizer"

// A lower-case SQL identifier: the only table names put into SQL text.
var tableName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

var (
	scheme   = runtime.NewScheme()
	setupLog = ctrl.Log.WithName("setup")
)

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(AddToScheme(scheme))
}

// PostgresWriterReconciler writes one row per PostgresWriter.
type PostgresWriterReconciler struct {
	client.Client
	Scheme *runtime.Scheme
	DB     *sql.DB
}

// +kubebuilder:rbac:groups=demo.yash.com,resources=postgreswriters,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=demo.yash.com,resources=postgreswriters/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=demo.yash.com,resources=postgreswriters/finalizers,verbs=update

// Reconcile writes the row of a PostgresWriter, or deletes it when the
// PostgresWriter is being deleted.
func (r *PostgresWriterReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := logf.FromContext(ctx)

	var pw PostgresWriter
	if err := r.Get(ctx, req.NamespacedName, &pw); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	id := pw.Namespace + "/" + pw.Name

	if !pw.DeletionTimestamp.IsZero() {
		if controllerutil.ContainsFinalizer(&pw, finalizer) {
			if !tableName.MatchString(pw.Spec.Table) {
				// Nothing can have been written to it.
				log.Info("invalid table name, no row to delete", "table", pw.Spec.Table)
			} else if _, err := r.DB.ExecContext(ctx,
				fmt.Sprintf("DELETE FROM %s WHERE id = $1", pw.Spec.Table), id); err != nil {
				log.Error(err, "failed to delete the row")
				return ctrl.Result{}, err
			}
			controllerutil.RemoveFinalizer(&pw, finalizer)
			if err := r.Update(ctx, &pw); err != nil {
				return ctrl.Result{}, err
			}
		}
		return ctrl.Result{}, nil
	}

	// The kubebuilder book's finalizer pattern: add it with an Update and
	// go on in the same reconcile (the Update refreshes pw's
	// resourceVersion, so the status update below does not conflict).
	if !controllerutil.ContainsFinalizer(&pw, finalizer) {
		controllerutil.AddFinalizer(&pw, finalizer)
		if err := r.Update(ctx, &pw); err != nil {
			return ctrl.Result{}, err
		}
	}

	if !tableName.MatchString(pw.Spec.Table) {
		meta.SetStatusCondition(&pw.Status.Conditions, metav1.Condition{
			Type:               "Ready",
			Status:             metav1.ConditionFalse,
			Reason:             "InvalidTableName",
			Message:            fmt.Sprintf("%q is not a lower-case SQL identifier", pw.Spec.Table),
			ObservedGeneration: pw.Generation,
		})
		pw.Status.ObservedGeneration = pw.Generation
		// A retry would not help: a new spec reconciles again.
		return ctrl.Result{}, r.Status().Update(ctx, &pw)
	}

	query := fmt.Sprintf(`INSERT INTO %s (id, name, age, country) VALUES ($1, $2, $3, $4)
ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, age = EXCLUDED.age, country = EXCLUDED.country`,
		pw.Spec.Table)
	if _, err := r.DB.ExecContext(ctx, query, id, pw.Spec.Name, pw.Spec.Age, pw.Spec.Country); err != nil {
		log.Error(err, "failed to write the row")
		meta.SetStatusCondition(&pw.Status.Conditions, metav1.Condition{
			Type:               "Ready",
			Status:             metav1.ConditionFalse,
			Reason:             "WriteFailed",
			Message:            err.Error(),
			ObservedGeneration: pw.Generation,
		})
		pw.Status.ObservedGeneration = pw.Generation
		if serr := r.Status().Update(ctx, &pw); serr != nil {
			log.Error(serr, "failed to update the status")
		}
		// controller-runtime's backoff retries it.
		return ctrl.Result{}, err
	}

	meta.SetStatusCondition(&pw.Status.Conditions, metav1.Condition{
		Type:               "Ready",
		Status:             metav1.ConditionTrue,
		Reason:             "RowWritten",
		Message:            fmt.Sprintf("row %s written to table %s", id, pw.Spec.Table),
		ObservedGeneration: pw.Generation,
	})
	pw.Status.ObservedGeneration = pw.Generation
	if err := r.Status().Update(ctx, &pw); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, nil
}

// SetupWithManager registers the controller with the manager.
func (r *PostgresWriterReconciler) SetupWithManager(mgr ctrl.Manager, concurrency int) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&PostgresWriter{}).
		Named("postgreswriter").
		WithOptions(controller.Options{MaxConcurrentReconciles: concurrency}).
		Complete(r)
}

func env(name, fallback string) string {
	if value, ok := os.LookupEnv(name); ok && value != "" {
		return value
	}
	return fallback
}

// The libpq key=value connection string of the PSQL_* variables.
func connectionString() string {
	quote := func(v string) string {
		return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
	}
	parts := []string{}
	for _, kv := range [][2]string{
		{"host", "PSQL_HOST"}, {"port", "PSQL_PORT"}, {"dbname", "PSQL_DBNAME"},
		{"user", "PSQL_USER"}, {"password", "PSQL_PASSWORD"},
	} {
		parts = append(parts, kv[0]+"="+quote(os.Getenv(kv[1])))
	}
	parts = append(parts, "sslmode="+quote(env("PSQL_SSLMODE", "disable")))
	return strings.Join(parts, " ")
}

func main() {
	var metricsAddr, probeAddr, namespace string
	var enableLeaderElection bool
	var concurrency int
	leaderDefault, _ := strconv.ParseBool(env("LEADER_ELECT", "true"))
	concurrencyDefault, _ := strconv.Atoi(env("RECONCILE_CONCURRENCY", "1"))
	flag.StringVar(&metricsAddr, "metrics-bind-address", env("METRICS_ADDR", ":8080"),
		"The address the metrics endpoint binds to.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", env("HEALTH_ADDR", ":8081"),
		"The address the probe endpoint binds to.")
	flag.BoolVar(&enableLeaderElection, "leader-elect", leaderDefault,
		"Enable leader election for controller manager. "+
			"Enabling this will ensure there is only one active controller manager.")
	flag.StringVar(&namespace, "watch-namespace", env("WATCH_NAMESPACE", ""),
		"The namespace watched, where the leader-election Lease lives too.")
	flag.IntVar(&concurrency, "reconcile-concurrency", concurrencyDefault,
		"MaxConcurrentReconciles of the controller.")
	opts := zap.Options{Development: true}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))

	db, err := sql.Open("postgres", connectionString())
	if err != nil {
		setupLog.Error(err, "unable to open the database")
		os.Exit(1)
	}
	// database/sql keeps 2 idle connections by default: keep one per
	// reconcile, as the Rust binary's pool does.
	db.SetMaxOpenConns(concurrency)
	db.SetMaxIdleConns(concurrency)

	options := ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress:  probeAddr,
		LeaderElection:          enableLeaderElection,
		LeaderElectionID:        "postgres-writer.demo.yash.com",
		LeaderElectionNamespace: namespace,
	}
	if namespace != "" {
		options.Cache = cache.Options{DefaultNamespaces: map[string]cache.Config{namespace: {}}}
	}
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), options)
	if err != nil {
		setupLog.Error(err, "unable to start manager")
		os.Exit(1)
	}

	if err := (&PostgresWriterReconciler{
		Client: mgr.GetClient(),
		Scheme: mgr.GetScheme(),
		DB:     db,
	}).SetupWithManager(mgr, concurrency); err != nil {
		setupLog.Error(err, "unable to create controller", "controller", "PostgresWriter")
		os.Exit(1)
	}

	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		setupLog.Error(err, "unable to set up health check")
		os.Exit(1)
	}
	// The scaffold's readiness check is healthz.Ping, ready at once. This
	// one is ready when the PostgresWriter informer has synced, what the
	// Rust binary's /readyz says, so that the benchmark starts its load on
	// both at the same point instead of timing Go's start-up.
	informer, err := mgr.GetCache().GetInformer(context.Background(), &PostgresWriter{},
		cache.BlockUntilSynced(false))
	if err != nil {
		setupLog.Error(err, "unable to get the PostgresWriter informer")
		os.Exit(1)
	}
	if err := mgr.AddReadyzCheck("readyz", func(*http.Request) error {
		if !informer.HasSynced() {
			return errors.New("the PostgresWriter cache has not synced yet")
		}
		return nil
	}); err != nil {
		setupLog.Error(err, "unable to set up ready check")
		os.Exit(1)
	}

	setupLog.Info("starting manager")
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		setupLog.Error(err, "problem running manager")
		os.Exit(1)
	}
}
