/* The epoch loop shared by the rankers' encoder stages (ranker.h, rk_stage): steps on the shared
 * trainer with a progress bar, checkpoints inside epochs and resume, the time cap, validation at
 * each epoch's end, and the best epoch's weights kept (in memory, in the checkpoint, on disk).
 * The best weights are a host copy: downloaded from the model's backend when kept, uploaded
 * back at the end. With several ranks (o->dist) every rank runs the loop; rank 0 alone writes,
 * prints and decides when the time is up and which epoch is best (its figures broadcast). */
#include <string.h>

#include "ordo/progress.h"
#include "ordo/ranker.h"
#include "ordo/safetensors.h"

int rk_best_write_extra(void *ctx, const char *dir, ordo_err *e) {
  rk_best_ckpt *pc = ctx;
  ordo_params view = *pc->params;
  view.data = pc->best; /* the same table, the best weights */
  char path[4200];
  if (snprintf(path, sizeof path, "%s/best.safetensors", dir) >= (int)sizeof path)
    return ordo_fail(e, "%s: path too long", dir);
  if (st_save_params(&view, path, e) != 0) return -1;
  char json[160];
  snprintf(json, sizeof json, "{\"best_tau\": %.17g, \"micro_batches_per_step\": %lld}\n",
           *pc->best_tau, (long long)pc->micro_per_step);
  if (snprintf(path, sizeof path, "%s/best_state.json", dir) >= (int)sizeof path)
    return ordo_fail(e, "%s: path too long", dir);
  return ordo_write_file_atomic(path, json, strlen(json), e);
}

int rk_best_read_extra(rk_best_ckpt *pc, const char *dir, ordo_err *e) {
  ordo_params view = *pc->params;
  view.data = pc->best;
  char path[4200];
  if (snprintf(path, sizeof path, "%s/best.safetensors", dir) >= (int)sizeof path)
    return ordo_fail(e, "%s: path too long", dir);
  if (st_load_params(&view, path, 0, e) != 0) return -1;
  if (snprintf(path, sizeof path, "%s/best_state.json", dir) >= (int)sizeof path)
    return ordo_fail(e, "%s: path too long", dir);
  char *txt = ordo_read_file(path, NULL, e);
  if (!txt) return -1;
  const char *k = strstr(txt, "\"best_tau\":");
  char *end = NULL;
  double v = k ? strtod(k + 11, &end) : 0;
  /* absent in checkpoints of one process written before it was recorded */
  const char *km = strstr(txt, "\"micro_batches_per_step\":");
  long long per = km ? strtoll(km + 25, NULL, 10) : pc->micro_per_step;
  const int found = k && end != k + 11;
  free(txt);
  if (!found) return ordo_fail(e, "%s: no best_tau", path);
  /* a step index means a place in the data only for the global batch it was counted in */
  if (per != pc->micro_per_step)
    return ordo_fail(e, "%s: the checkpoint's steps were of %lld micro-batches (ranks x "
                     "--accum-steps), this run's are of %lld: resume with the same product",
                     path, per, (long long)pc->micro_per_step);
  *pc->best_tau = v;
  return 0;
}

int rk_micro_per_step(const trainer *t) { return dist_world(t->dist) * t->cfg.accum_steps; }
int rk_first_micro(const trainer *t) { return dist_rank(t->dist) * t->cfg.accum_steps; }

void rk_micro_span(int32_t first, int32_t last, int first_micro, int i, int nb_per_micro,
                   int32_t *a, int32_t *b) {
  *a = first + (first_micro + i) * nb_per_micro;
  *b = *a + nb_per_micro < last ? *a + nb_per_micro : last;
}

void rk_val_agree(const rk_train_opts *o, rk_val_metrics *v) {
  dist_bcast_bytes(o->dist, v, (int64_t)sizeof *v, "held-out figures");
}

uint8_t *rk_val_part(const ordo_dist *d, const nb_dataset *ds, const uint8_t *val) {
  uint8_t *mine = ordo_calloc((size_t)(ds->n ? ds->n : 1), 1);
  const int w = dist_world(d), r = dist_rank(d);
  for (int32_t i = 0, k = 0; i < ds->n; i++)
    if (val[i]) mine[i] = k++ % w == r;
  return mine;
}

/* --max-minutes on rank 0's clock, the same answer on every rank: a rank stopping alone would
 * leave the others waiting in the next step's collectives */
static int time_is_up(const rk_train_opts *o, double tstart) {
  if (o->max_minutes <= 0) return 0;
  int up = ordo_time() - tstart > o->max_minutes * 60;
  if (dist_world(o->dist) > 1) dist_bcast_bytes(o->dist, &up, (int64_t)sizeof up, "time cap");
  return up;
}

int rk_stage_run(const rk_stage *s, rk_stage_result *res, ordo_err *e) {
  enc_model *m = s->m;
  ordo_params *P = m ? &m->params : s->params;
  const char *unit = s->unit ? s->unit : "tok";
  trainer *tr = s->tr;
  const rk_train_opts *o = s->o;
  memset(res, 0, sizeof *res);
  res->best_tau = -2;
  float *best = ordo_malloc(P->total * sizeof *best);
  params_download(P);
  memcpy(best, P->data, P->total * sizeof *best);
  rk_best_ckpt bck = {.params = P, .best = best, .best_tau = &res->best_tau,
                      .micro_per_step = rk_micro_per_step(tr)};
  const int root = dist_is_root(o->dist);
  int64_t step = 0, start = 0;
  int stop = 0;
  double tstart = ordo_time();
  if (s->ckpt_dir && o->tech.save_every > 0) {
    tr->cfg.ckpt_dir = s->ckpt_dir;
    tr->write_extra = rk_best_write_extra;
    tr->extra_ctx = &bck;
    int rr = trainer_resume(tr, e);
    if (rr == 1 && rk_best_read_extra(&bck, s->ckpt_dir, e) != 0) rr = -1;
    if (rr < 0) stop = 2;
    if (rr == 1) {
      start = res->resumed_at = tr->prog.step;
      if (o->verbose)
        fprintf(stderr, "%s: resumed from %s at step %lld (best held-out tau so far %.4f)\n",
                s->name, s->ckpt_dir, (long long)start, res->best_tau);
    }
  }
  int checkpoints = s->ckpt_dir && o->tech.save_every > 0;
  /* the stage's records: those up to a resumed step kept */
  if (!stop && s->metrics && metrics_stage_begin(s->metrics, s->name, start, NULL, NULL, 0, e) != 0)
    stop = 2;
  for (int ep = 0; ep < s->epochs && !stop && step < s->total; ep++) {
    /* every epoch's preparation runs, also for epochs a resume skips: the data order it draws
     * must be the one the uninterrupted run drew */
    int64_t ep_steps = s->epoch_begin(s->ctx, ep);
    if (ep_steps > s->total - step) ep_steps = s->total - step;
    if (start >= step + ep_steps) { /* an epoch finished before the resumed checkpoint */
      step += ep_steps;
      continue;
    }
    int64_t k0 = start > step ? start - step : 0; /* resuming inside this epoch */
    step += k0;
    ordo_progress pb;
    progress_init(&pb, s->name, ep_steps);
    pb.silent = !root;
    pb.start = pb.done = k0; /* resumed inside this epoch: the rate from here */
    double tep = ordo_time(), lsum = 0, toks = 0;
    int64_t done = 0;
    for (int64_t k = k0; k < ep_steps; k++, step++) {
      double ts = ordo_time();
      int64_t tokens = 0;
      trainer_stats ts_;
      s->step(s->ctx, ep, k, &ts_, &tokens);
      if (dist_world(o->dist) > 1) tokens = (int64_t)dist_sum_f64(o->dist, (double)tokens, "tokens");
      float loss = ts_.loss;
      double tps = (double)tokens / (ordo_time() - ts);
      toks += (double)tokens;
      lsum += loss, done++;
      if (step == start) res->loss_first = loss; /* this run's first step */
      res->loss_last = loss;
      if (s->metrics) {
        metrics_record_begin(s->metrics, step + 1);
        trainer_metrics_add(s->metrics, &ts_);
        char rate[48] = "tokens_per_s";
        if (s->unit) snprintf(rate, sizeof rate, "%s_per_s", s->unit);
        metrics_record_add(s->metrics, rate, tps);
        metrics_record_add(s->metrics, "epoch", ep + 1);
        if (metrics_record_end(s->metrics, e) != 0) {
          stop = 2;
          break;
        }
      }
      char tail[160];
      snprintf(tail, sizeof tail, "epoch %d/%d loss %.4f %.0f %s/s", ep + 1, s->epochs, loss, tps,
               unit);
      progress_update(&pb, k + 1, tail);
      /* checkpoints inside an epoch only: a resumed run then always meets the epoch's end and
       * its validation, as the uninterrupted run did */
      if (checkpoints && (step + 1) % o->tech.save_every == 0 && k + 1 < ep_steps &&
          trainer_save(tr, e) != 0) {
        stop = 2;
        break;
      }
      if (time_is_up(o, tstart)) {
        progress_clear(&pb);
        if (root) fprintf(stderr, "%s: stopping after %.1f minutes (--max-minutes)\n", s->name,
                (ordo_time() - tstart) / 60);
        stop = 1;
        step++;
        pb.total = k + 1; /* the bar ends where the run stopped */
        break;
      }
    }
    progress_finish(&pb, NULL);
    if (stop == 2) break;
    rk_val_metrics vm;
    s->validate(s->ctx, &vm);
    rk_val_agree(o, &vm);
    double tv = vm.tau;
    if (s->has_val && rk_val_log(s->metrics, step, ep + 1, &vm, e) != 0) {
      stop = 2;
      break;
    }
    if (o->verbose) {
      char tau[32] = "not measured"; /* nothing held out */
      if (s->has_val) snprintf(tau, sizeof tau, "%.4f", tv);
      fprintf(stderr, "%s epoch %d: %lld steps, mean loss %.4f, %.0f %s/s, val tau %s\n", s->name,
              ep + 1, (long long)step, done ? lsum / (double)done : 0.0, toks / (ordo_time() - tep),
              unit, tau);
    }
    if (tv > res->best_tau || !s->has_val) { /* nothing held out: keep the latest */
      res->best_tau = tv;
      params_download(P);
      memcpy(best, P->data, P->total * sizeof *best);
      if (s->kept) s->kept(s->ctx);
      if (root && (m ? enc_save(m, s->save_dir, e) : s->save(s->ctx, s->save_dir, e)) != 0) {
        stop = 2;
        break;
      }
    }
  }
  memcpy(P->data, best, P->total * sizeof *best);
  params_upload(P);
  tr->cfg.ckpt_dir = NULL, tr->write_extra = NULL, tr->extra_ctx = NULL;
  free(best);
  res->steps = step;
  res->seconds = ordo_time() - tstart;
  return stop == 2 ? -1 : 0;
}

void rk_dual_result(rk_train_result *res, const rk_stage_result *sr) {
  res->tau_dual = sr->best_tau;
  res->dual_steps = sr->steps;
  res->seconds_dual = sr->seconds;
  res->dual_loss_first = sr->loss_first;
  res->dual_loss_last = sr->loss_last;
}
