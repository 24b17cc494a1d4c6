# Reference numbers for the small-sample methods: Kenward-Roger for the MMRM and CR2
# (Bell-McCaffrey) cluster-robust SEs with Satterthwaite df, on clinic_a's frames (written by
# routine_care_inputs.py) and on few-subject / few-cluster data (small_sample_inputs.py).
#
# Run from the repository root:
#   PYTHONPATH=src python tests/reference/routine_care_inputs.py   # clinic_a frames
#   PYTHONPATH=src python tests/reference/small_sample_inputs.py
#   Rscript tests/reference/small_sample.R
# Writes tests/reference/small_sample.json.
#
# R has no Kenward-Roger for gls (mmrm is not packaged here), so:
#  (1) pbkrtest::vcovAdj / Lb_ddf on lmer random-intercept fits (compound symmetry across
#      visits, a model both pbkrtest and dnoutcomes' KR formulas can take), and the hand
#      implementation below reproduces them (stopifnot), then
#  (2) the same hand implementation of Kenward & Roger (1997) on the unstructured
#      gls(corSymm, varIdent) fit, W the inverse observed REML information (as mmrm and
#      dnoutcomes); its df are also passed through pbkrtest::Lb_ddf.
suppressPackageStartupMessages({
  library(nlme); library(lme4); library(pbkrtest); library(clubSandwich); library(jsonlite)
})
here <- "tests/reference"
rd <- function(name) read.csv(file.path(here, name), stringsAsFactors = FALSE)
out <- list()

## Kenward-Roger by hand (Kenward & Roger 1997, eq. 2-5 without R_hj; linear in theta) ----
## X: design; rows: list of row indices per subject; vis: visit index per row;
## S: J x J covariance; dS: list of dS/dtheta_h; W: covariance of theta-hat.
kr_pieces <- function(X, rows, vis, S, dS) {
  k <- length(dS); p <- ncol(X)
  info <- matrix(0, p, p)
  P <- replicate(k, matrix(0, p, p), simplify = FALSE)
  Q <- replicate(k, replicate(k, matrix(0, p, p), simplify = FALSE), simplify = FALSE)
  trace <- matrix(0, k, k)
  for (r in rows) {  # a plain loop over subjects: clarity over speed
    v <- vis[r]; Si <- solve(S[v, v, drop = FALSE]); Xi <- X[r, , drop = FALSE]
    info <- info + t(Xi) %*% Si %*% Xi
    D <- lapply(dS, function(d) d[v, v, drop = FALSE])
    for (h in 1:k) {
      P[[h]] <- P[[h]] - t(Xi) %*% Si %*% D[[h]] %*% Si %*% Xi
      for (j in 1:k) {
        Q[[h]][[j]] <- Q[[h]][[j]] + t(Xi) %*% Si %*% D[[h]] %*% Si %*% D[[j]] %*% Si %*% Xi
        trace[h, j] <- trace[h, j] + sum(diag(Si %*% D[[h]] %*% Si %*% D[[j]]))
      }
    }
  }
  list(Phi = solve(info), P = P, Q = Q, trace = trace)
}
kr_expected_W <- function(kp) {  # inverse of the expected REML information
  k <- length(kp$P); I <- matrix(0, k, k)
  for (h in 1:k) for (j in 1:k) {
    I[h, j] <- 0.5 * (kp$trace[h, j] - 2 * sum(kp$Phi * t(kp$Q[[h]][[j]])) +
                        sum(diag(kp$Phi %*% kp$P[[h]] %*% kp$Phi %*% kp$P[[j]])))
  }
  solve(I)
}
kr_adjusted <- function(kp, W) {
  k <- length(kp$P); Phi <- kp$Phi; U <- 0
  for (h in 1:k) for (j in 1:k) {
    U <- U + W[h, j] * (kp$Q[[h]][[j]] - kp$P[[h]] %*% Phi %*% kp$P[[j]])
  }
  PhiA <- Phi + 2 * Phi %*% U %*% Phi
  attr(PhiA, "P") <- kp$P; attr(PhiA, "W") <- W  # what pbkrtest::Lb_ddf reads
  PhiA
}
kr_df1 <- function(kp, W, l) {  # one contrast: m = 2 / (a' W a)
  a <- sapply(kp$P, function(Ph) drop(l %*% kp$Phi %*% Ph %*% kp$Phi %*% l)) /
    drop(l %*% kp$Phi %*% l)
  2 / drop(a %*% W %*% a)
}
prep <- function(d, visits) {
  d$visit <- factor(d$visit, levels = visits)
  d$visit_index <- as.integer(d$visit)
  d[order(d$episode_id, d$visit_index), ]
}
cell_formula <- value ~ 0 + visit + visit:treated + visit:baseline

## 1. pbkrtest on lmer (compound symmetry), and the hand implementation agreeing -------------
kr_lmer <- function(d, visits) {
  d <- prep(d, visits); J <- length(visits)
  fit <- lmer(update(cell_formula, . ~ . + (1 | episode_id)), data = d, REML = TRUE,
              control = lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 0.2,
                                    rhoend = 1e-12)))
  vc <- as.data.frame(VarCorr(fit))
  tau2 <- vc$vcov[vc$grp == "episode_id"]; s2 <- sigma(fit)^2
  L <- cbind(matrix(0, J, J), diag(J), matrix(0, J, J))
  V0 <- as.matrix(vcov(fit)); Va <- vcovAdj(fit)
  ddf <- apply(L, 1, function(l) Lb_ddf(matrix(l, 1), V0, Va))
  # the hand implementation, given lmer's estimates
  S <- tau2 * matrix(1, J, J) + s2 * diag(J)
  kp <- kr_pieces(model.matrix(cell_formula, d), split(seq_len(nrow(d)), d$episode_id),
                  d$visit_index, S, list(matrix(1, J, J), diag(J)))
  W <- kr_expected_W(kp); hand <- kr_adjusted(kp, W)
  stopifnot(isTRUE(all.equal(unname(as.matrix(Va)), unname(as.matrix(hand)), tolerance = 1e-8,
                             check.attributes = FALSE)))
  stopifnot(isTRUE(all.equal(ddf, apply(L, 1, function(l) kr_df1(kp, W, l)), tolerance = 1e-8)))
  list(visits = visits, tau2 = tau2, sigma2 = s2, coef = unname(fixef(fit)),
       vcov = unname(as.vector(V0)), vcov_adj = unname(as.vector(as.matrix(Va))),
       contrast_df = ddf, contrast_se = sqrt(diag(L %*% as.matrix(Va) %*% t(L))))
}
out$lmer_clinic_a <- kr_lmer(rd("routine_care_mmrm.csv"), c("discharge", "followup_12w"))
out$lmer_small <- kr_lmer(rd("small_sample_mmrm.csv"),
                          c("discharge", "followup_4w", "followup_12w"))

## 2. Unstructured MMRM: gls(corSymm, varIdent), Kenward-Roger by hand ---------------------
kr_gls <- function(d, visits, h = 1e-4) {
  d <- prep(d, visits); J <- length(visits); ncor <- J * (J - 1) / 2
  ctrl <- glsControl(tolerance = 1e-10, msTol = 1e-10, maxIter = 200, msMaxIter = 200)
  fit <- gls(cell_formula, data = d, correlation = corSymm(form = ~ visit_index | episode_id),
             weights = varIdent(form = ~ 1 | visit), method = "REML", control = ctrl)
  par <- attr(fit$apVar, "Pars")  # nlme's natural parameters: 2 atanh(rho), log ratios, log sd
  vnames <- names(coef(fit$modelStruct$varStruct, unconstrained = FALSE))
  S_of <- function(p) {
    rho <- tanh(p[1:ncor] / 2)
    R <- diag(J); R[lower.tri(R)] <- rho; R[upper.tri(R)] <- t(R)[upper.tri(R)]
    ratio <- setNames(rep(1, J), visits); ratio[vnames] <- exp(p[ncor + seq_along(vnames)])
    s <- exp(p[length(p)]) * ratio
    diag(s, J) %*% R %*% diag(s, J)
  }
  X <- model.matrix(cell_formula, d); y <- d$value
  rows <- split(seq_len(nrow(d)), d$episode_id)
  neg2reml <- function(p) {
    S <- S_of(p); XtVX <- 0; XtVy <- 0; yVy <- 0; ld <- 0
    for (r in rows) {
      v <- d$visit_index[r]; Si <- solve(S[v, v, drop = FALSE]); Xi <- X[r, , drop = FALSE]
      XtVX <- XtVX + t(Xi) %*% Si %*% Xi; XtVy <- XtVy + t(Xi) %*% Si %*% y[r]
      yVy <- yVy + drop(t(y[r]) %*% Si %*% y[r])
      ld <- ld + as.numeric(determinant(S[v, v, drop = FALSE])$modulus)
    }
    ld + yVy - sum(XtVy * solve(XtVX, XtVy)) + as.numeric(determinant(XtVX)$modulus)
  }
  k <- length(par); E <- diag(h, k); H <- matrix(0, k, k); f0 <- neg2reml(par)
  for (i in 1:k) for (j in 1:i) {
    H[i, j] <- H[j, i] <- if (i == j) {
      (neg2reml(par + E[i, ]) - 2 * f0 + neg2reml(par - E[i, ])) / h^2
    } else {
      (neg2reml(par + E[i, ] + E[j, ]) - neg2reml(par + E[i, ] - E[j, ]) -
         neg2reml(par - E[i, ] + E[j, ]) + neg2reml(par - E[i, ] - E[j, ])) / (4 * h^2)
    }
  }
  W <- 2 * solve(H)  # inverse observed information of nlme's parameters
  dS <- lapply(1:k, function(j) (S_of(par + E[j, ] / 10) - S_of(par - E[j, ] / 10)) /
                 (2 * h / 10))
  kp <- kr_pieces(X, rows, d$visit_index, S_of(par), dS)
  stopifnot(isTRUE(all.equal(unname(kp$Phi), unname(vcov(fit)), tolerance = 1e-8)))
  Va <- kr_adjusted(kp, W)
  L <- cbind(matrix(0, J, J), diag(J), matrix(0, J, J))
  df <- apply(L, 1, function(l) kr_df1(kp, W, l))
  df_pbkr <- apply(L, 1, function(l) Lb_ddf(matrix(l, 1), kp$Phi, Va))
  stopifnot(isTRUE(all.equal(df, df_pbkr, tolerance = 1e-8)))
  list(visits = visits, coef = unname(coef(fit)), vcov = unname(as.vector(vcov(fit))),
       vcov_adj = unname(as.vector(Va)), contrast_estimate = drop(L %*% coef(fit)),
       contrast_se = sqrt(diag(L %*% Va %*% t(L))), contrast_df = df,
       n_obs = nrow(d), n_episodes = length(rows))
}
out$kr_clinic_a <- kr_gls(rd("routine_care_mmrm.csv"), c("discharge", "followup_12w"))
out$kr_small <- kr_gls(rd("small_sample_mmrm.csv"),
                       c("discharge", "followup_4w", "followup_12w"))

## 3. CR2 with Satterthwaite df: clubSandwich -------------------------------------------------
cr2 <- function(fit, cluster) {
  V <- vcovCR(fit, cluster = cluster, type = "CR2")
  tst <- coef_test(fit, vcov = V, test = "Satterthwaite")
  list(coef = unname(coef(fit)), vcov = unname(as.vector(as.matrix(V))),
       se = unname(tst$SE), df = unname(tst$df_Satt), p = unname(tst$p_Satt),
       n = nobs(fit), clusters = length(unique(cluster)))
}
# clinic_a: the frames and IPTW weights of routine_care.R (sections 4-5)
an <- rd("routine_care_ancova.csv")
cc <- an[complete.cases(an[, c("nprs_baseline", "nprs_discharge")]), ]
fit <- lm(nprs_discharge ~ treated + nprs_baseline, data = cc)
ps_set <- an[complete.cases(an[, c("nprs_baseline", "nprs_discharge", "odi_baseline", "age",
                                   "sex", "condition", "symptom_weeks", "site_id")]), ]
for (v in c("sex", "condition", "site_id")) ps_set[[v]] <- factor(ps_set[[v]])
e <- fitted(glm(treated ~ age + symptom_weeks + nprs_baseline + odi_baseline + sex +
                  condition + site_id, family = binomial, data = ps_set))
share <- mean(ps_set$treated)
ps_set$w <- ifelse(ps_set$treated == 1, share / e, (1 - share) / (1 - e))
wfit <- lm(nprs_discharge ~ treated + nprs_baseline, data = ps_set, weights = w)
out$cr2_clinic_a <- list(
  therapist = cr2(fit, cc$therapist_id), site = cr2(fit, cc$site_id),
  iptw_therapist = cr2(wfit, ps_set$therapist_id), iptw_site = cr2(wfit, ps_set$site_id)
)
# 6 sites (small_sample_inputs.py): weights as dnoutcomes computed them
few <- rd("small_sample_cluster.csv")
fa <- few[few$ancova == 1, ]; fw <- few[few$iptw == 1, ]
fit6 <- lm(nprs_discharge ~ treated + nprs_baseline, data = fa)
wfit6 <- lm(nprs_discharge ~ treated + nprs_baseline, data = fw, weights = iptw_weight)
out$cr2_six_sites <- list(
  site = cr2(fit6, fa$site_id), therapist = cr2(fit6, fa$therapist_id),
  iptw_site = cr2(wfit6, fw$site_id), iptw_therapist = cr2(wfit6, fw$therapist_id)
)

out$r_version <- R.version.string
out$packages <- sapply(c("nlme", "lme4", "pbkrtest", "clubSandwich"),
                       function(p) as.character(packageVersion(p)))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           file.path(here, "small_sample.json"))
