# Reference numbers for the routine-care methods (issue 15): MMRM, random slopes and spline
# time, Cox / cox.zph / RMST, AIPW and cluster-robust SEs, on the analysis frames of
# clinic_a that routine_care_inputs.py writes beside this file (so R and Python read
# identical inputs), plus a simulated 3-visit MMRM data set with dropout.
#
# Run from the repository root:
#   PYTHONPATH=src python tests/reference/routine_care_inputs.py
#   Rscript tests/reference/routine_care.R
# Writes tests/reference/routine_care.json.
suppressPackageStartupMessages({
  library(nlme); library(lme4); library(survival); library(sandwich)
  library(splines); library(jsonlite)
})
here <- "tests/reference"
rd <- function(name) read.csv(file.path(here, name), stringsAsFactors = FALSE)
out <- list()

## 1. MMRM: gls with unstructured covariance, REML; Satterthwaite df by hand --------
satterthwaite <- function(fit, d, visits, L, h = 1e-4) {
  J <- length(visits); ncor <- J * (J - 1) / 2
  par <- attr(fit$apVar, "Pars")  # nlme's estimates in its natural parameters
  X <- model.matrix(formula(fit), d); y <- d$value
  vnames <- names(coef(fit$modelStruct$varStruct, unconstrained = FALSE))
  rows <- split(seq_len(nrow(d)), d$episode_id)
  pieces <- function(p) {
    rho <- tanh(p[1:ncor] / 2)
    R <- diag(J); R[lower.tri(R)] <- rho; R[upper.tri(R)] <- t(R)[upper.tri(R)]
    ratio <- setNames(rep(1, J), visits); ratio[vnames] <- exp(p[ncor + seq_along(vnames)])
    s <- exp(p[length(p)]) * ratio
    S <- diag(s, J) %*% R %*% diag(s, J)
    XtVX <- 0; XtVy <- 0; yVy <- 0; ld <- 0
    for (r in rows) {  # a plain loop over episodes: clarity over speed
      v <- d$visit_index[r]; Si <- solve(S[v, v, drop = FALSE]); Xi <- X[r, , drop = FALSE]
      XtVX <- XtVX + t(Xi) %*% Si %*% Xi; XtVy <- XtVy + t(Xi) %*% Si %*% y[r]
      yVy <- yVy + drop(t(y[r]) %*% Si %*% y[r])
      ld <- ld + as.numeric(determinant(S[v, v, drop = FALSE])$modulus)
    }
    list(XtVX = XtVX, XtVy = XtVy, yVy = yVy, ld = ld)
  }
  neg2reml <- function(p) {
    q <- pieces(p); b <- solve(q$XtVX, q$XtVy)
    q$ld + q$yVy - sum(q$XtVy * b) + as.numeric(determinant(q$XtVX)$modulus)
  }
  vcov_at <- function(p) solve(pieces(p)$XtVX)
  stopifnot(isTRUE(all.equal(unname(vcov_at(par)), unname(vcov(fit)), tolerance = 1e-8)))
  k <- length(par); E <- diag(h, k); H <- matrix(0, k, k); f0 <- neg2reml(par)
  for (i in 1:k) for (j in 1:i) {
    H[i, j] <- H[j, i] <- if (i == j) {
      (neg2reml(par + E[i, ]) - 2 * f0 + neg2reml(par - E[i, ])) / h^2
    } else {
      (neg2reml(par + E[i, ] + E[j, ]) - neg2reml(par + E[i, ] - E[j, ]) -
         neg2reml(par - E[i, ] + E[j, ]) + neg2reml(par - E[i, ] - E[j, ])) / (4 * h^2)
    }
  }
  A <- 2 * solve(H)
  V0 <- vcov(fit)
  apply(L, 1, function(l) {
    g <- sapply(1:k, function(j) (drop(l %*% vcov_at(par + E[j, ]) %*% l) -
                                    drop(l %*% vcov_at(par - E[j, ]) %*% l)) / (2 * h))
    2 * drop(l %*% V0 %*% l)^2 / drop(g %*% A %*% g)
  })
}
mmrm_ref <- function(d, visits) {
  d$visit <- factor(d$visit, levels = visits)
  d$visit_index <- as.integer(d$visit)
  d$armf <- factor(d$treated, levels = c(0, 1))
  d <- d[order(d$episode_id, d$visit_index), ]
  ctrl <- glsControl(tolerance = 1e-10, msTol = 1e-10, maxIter = 200, msMaxIter = 200)
  # the cell-means form: a mean, an arm effect and a baseline slope per visit
  cell <- gls(value ~ 0 + visit + visit:treated + visit:baseline, data = d,
              correlation = corSymm(form = ~ visit_index | episode_id),
              weights = varIdent(form = ~ 1 | visit), method = "REML", control = ctrl)
  # the formula of the plan (same fit, other parameterisation)
  std <- gls(value ~ armf * visit + baseline * visit, data = d,
             correlation = corSymm(form = ~ visit_index | episode_id),
             weights = varIdent(form = ~ 1 | visit), method = "REML", control = ctrl)
  # emmeans 1.8.4 has no analytic Satterthwaite for gls (its fallback, the
  # "appx-satterthwaite" heuristic, gives other numbers or fails), and nlme's apVar takes finite differences with a step
  # relative to the parameter (useless for a log SD ratio near 0), so the Satterthwaite df
  # are computed here: REML log-likelihood in nlme's natural parameters (2 atanh(rho),
  # log SD ratios, log sigma) written out below, its Hessian and the gradient of
  # l' V(theta) l by central differences (h = 1e-4) at nlme's estimates.
  J <- length(visits)
  L <- cbind(matrix(0, J, J), diag(J), matrix(0, J, J))
  df <- satterthwaite(cell, d, visits, L)
  con <- data.frame(estimate = drop(L %*% coef(cell)),
                    SE = sqrt(diag(L %*% vcov(cell) %*% t(L))), df = df)
  list(
    visits = visits,
    coef = unname(coef(cell)), se = unname(sqrt(diag(vcov(cell)))),
    coef_names = names(coef(cell)),
    sigma = unname(matrix(unclass(getVarCov(cell, individual = names(which.max(
      table(d$episode_id))))), length(visits))),
    contrast_estimate = con$estimate, contrast_se = con$SE, contrast_df = con$df,
    std_arm_contrast = unname(c(coef(std)["armf1"],
      coef(std)["armf1"] + coef(std)[paste0("armf1:visit", visits[-1])])),
    n_obs = nrow(d), n_episodes = length(unique(d$episode_id))
  )
}
out$mmrm <- mmrm_ref(rd("routine_care_mmrm.csv"), c("discharge", "followup_12w"))
out$mmrm_sim <- mmrm_ref(rd("routine_care_mmrm_sim.csv"),
                         c("discharge", "followup_4w", "followup_12w"))

## 2. Random slopes, linear and natural-spline time (lme4) --------------------------------
tr <- rd("routine_care_trajectory.csv")
lmer_ref <- function(fit, weeks) {
  vc <- as.data.frame(VarCorr(fit))
  nd0 <- data.frame(treated = 0, weeks = weeks, value = 0, episode_id = "x")
  nd1 <- transform(nd0, treated = 1)
  tt <- delete.response(terms(fit))
  x0 <- model.matrix(tt, nd0); x1 <- model.matrix(tt, nd1)
  L <- x1 - x0
  list(
    fixef = unname(fixef(fit)), se = unname(sqrt(diag(as.matrix(vcov(fit))))),
    fixef_names = names(fixef(fit)),
    sd_intercept = vc$sdcor[vc$grp == "episode_id" & vc$var1 == "(Intercept)" & is.na(vc$var2)],
    sd_slope = vc$sdcor[vc$grp == "episode_id" & vc$var1 == "weeks" & is.na(vc$var2)],
    corr = vc$sdcor[vc$grp == "episode_id" & !is.na(vc$var2)],
    sd_residual = vc$sdcor[vc$grp == "Residual"],
    weeks = weeks,
    contrast_estimate = unname(drop(L %*% fixef(fit))),
    contrast_se = unname(sqrt(diag(L %*% as.matrix(vcov(fit)) %*% t(L)))),
    mean_reference = unname(drop(x0 %*% fixef(fit))),
    mean_comparator = unname(drop(x1 %*% fixef(fit)))
  )
}
ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5))
lin <- lmer(value ~ treated * weeks + (1 + weeks | episode_id), data = tr, REML = TRUE,
            control = ctrl)
spl <- lmer(value ~ treated * ns(weeks, df = 3) + (1 + weeks | episode_id), data = tr,
            REML = TRUE, control = ctrl)
out$slopes_linear <- lmer_ref(lin, c(0, 2, 4, 6, 8))
out$slopes_spline <- lmer_ref(spl, c(0, 2, 4, 6, 8))
out$slopes_spline$knots <- unname(attr(ns(tr$weeks, df = 3), "knots"))
out$followup_limit <- unname(quantile(tapply(tr$weeks, tr$episode_id, max), 0.95))

## 3. Cox (Efron), cox.zph (km), RMST ------------------------------------------------------
tm <- rd("routine_care_times.csv")
cx <- coxph(Surv(time, event) ~ treated, data = tm, ties = "efron")
zp <- cox.zph(cx)  # transform = "km"
sf <- survfit(Surv(time, event) ~ treated, data = tm)
rm30 <- summary(sf, rmean = 30)$table
tau_default <- min(tapply(tm$time, tm$treated, max))
rmd <- summary(sf, rmean = tau_default)$table
out$cox <- list(
  coef = unname(coef(cx)), se = unname(sqrt(diag(vcov(cx)))),
  loglik = cx$loglik,
  zph_chisq = unname(zp$table["GLOBAL", "chisq"]), zph_p = unname(zp$table["GLOBAL", "p"]),
  tau = 30, rmean = unname(rm30[, "rmean"]), rmean_se = unname(rm30[, "se(rmean)"]),
  tau_default = tau_default, rmean_default = unname(rmd[, "rmean"]),
  rmean_se_default = unname(rmd[, "se(rmean)"])
)

## 4. AIPW by hand: glm for e, lm for m1 / m0, then the formula ---------------------------
an <- rd("routine_care_ancova.csv")
ps_set <- an[complete.cases(an[, c("nprs_baseline", "nprs_discharge", "odi_baseline", "age",
                                   "sex", "condition", "symptom_weeks", "site_id")]), ]
for (v in c("sex", "condition", "site_id")) ps_set[[v]] <- factor(ps_set[[v]])
ps_formula <- treated ~ age + symptom_weeks + nprs_baseline + odi_baseline + sex + condition +
  site_id
e <- fitted(glm(ps_formula, family = binomial, data = ps_set))
out_formula <- nprs_discharge ~ age + symptom_weeks + nprs_baseline + odi_baseline + sex +
  condition + site_id
aipw_ref <- function(d, e) {
  # lm on each arm's rows of the full design (every level kept, so a level absent from an
  # arm is an aliased column: coefficient NA, counted as 0 in the prediction)
  X <- model.matrix(out_formula, d)
  t <- d$treated; y <- d$nprs_discharge
  pred <- function(rows) {
    b <- coef(lm(y[rows] ~ 0 + X[rows, , drop = FALSE])); b[is.na(b)] <- 0
    drop(X %*% b)
  }
  m1 <- pred(t == 1); m0 <- pred(t == 0)
  p1 <- m1 + t * (y - m1) / e
  p0 <- m0 + (1 - t) * (y - m0) / (1 - e)
  phi <- p1 - p0
  list(n = nrow(d), estimate = mean(phi), se = sqrt(var(phi) / nrow(d)),
       mean_comparator = mean(p1), se_comparator = sqrt(var(p1) / nrow(d)),
       mean_reference = mean(p0), se_reference = sqrt(var(p0) / nrow(d)))
}
out$aipw <- aipw_ref(ps_set, e)
keep <- e >= 0.05 & e <= 0.95
out$aipw_trim05 <- aipw_ref(droplevels(ps_set[keep, ]), e[keep])
out$aipw_trim05$n_trimmed <- sum(!keep)

## 5. Cluster-robust SEs: sandwich::vcovCL, type HC1 (CR1) --------------------------------
cc <- an[complete.cases(an[, c("nprs_baseline", "nprs_discharge")]), ]
fit <- lm(nprs_discharge ~ treated + nprs_baseline, data = cc)
share <- mean(ps_set$treated)
w <- ifelse(ps_set$treated == 1, share / e, (1 - share) / (1 - e))
wfit <- lm(nprs_discharge ~ treated + nprs_baseline, data = ps_set, weights = w)
out$cluster <- list(
  ancova_n = nrow(cc), ancova_coef = unname(coef(fit)),
  therapist = unname(as.vector(vcovCL(fit, cluster = ~ therapist_id, type = "HC1"))),
  site = unname(as.vector(vcovCL(fit, cluster = ~ site_id, type = "HC1"))),
  therapist_hc0 = unname(as.vector(vcovCL(fit, cluster = ~ therapist_id, type = "HC0"))),
  iptw_n = nrow(ps_set), iptw_coef = unname(coef(wfit)),
  iptw_therapist = unname(as.vector(vcovCL(wfit, cluster = ~ therapist_id, type = "HC1"))),
  iptw_site = unname(as.vector(vcovCL(wfit, cluster = ~ site_id, type = "HC1")))
)

out$r_version <- R.version.string
out$packages <- sapply(c("nlme", "lme4", "survival", "sandwich"),
                       function(p) as.character(packageVersion(p)))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           file.path(here, "routine_care.json"))
