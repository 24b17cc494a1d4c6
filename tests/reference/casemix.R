# Reference numbers for tests/test_qi_casemix.py: R's lm and glm on data/sample.
# Run from tests/reference:  Rscript casemix.R   (writes casemix.json)
library(jsonlite)
dir <- "../../data/sample"
p <- read.csv(file.path(dir, "patients.csv"), stringsAsFactors = FALSE, na.strings = "")
e <- read.csv(file.path(dir, "episodes.csv"), stringsAsFactors = FALSE, na.strings = "")
o <- read.csv(file.path(dir, "outcomes.csv"), stringsAsFactors = FALSE, na.strings = "")
p$age <- as.numeric(sub("+", "", p$age, fixed = TRUE))
nb <- o[o$measure == "nprs" & o$timepoint == "baseline", c("episode_id", "value")]
nd <- o[o$measure == "nprs" & o$timepoint == "discharge", c("episode_id", "value")]
names(nb)[2] <- "baseline"
names(nd)[2] <- "discharge"
d <- merge(e, p[, setdiff(names(p), "site_id")], by = "patient_id")
d <- merge(d, nb, by = "episode_id")
d <- merge(d, nd, by = "episode_id")
d$improvement <- d$baseline - d$discharge
d$responder <- as.numeric(d$improvement >= 2)
d$sex <- factor(d$sex, levels = c("female", "male", "other", "unknown"))
d$condition <- factor(d$condition)
d <- d[order(d$episode_id), ]
fit_rows <- as.Date(d$end_date) >= as.Date("2024-03-01") & as.Date(d$end_date) <= as.Date("2025-06-30")
f <- d[fit_rows, ]
ols <- lm(improvement ~ age + sex + condition + symptom_weeks + baseline, data = f)
lgt <- glm(responder ~ age + sex + condition + symptom_weeks + baseline, data = f,
           family = binomial())
auc <- function(y, p) {
  r <- rank(p); n1 <- sum(y == 1); n0 <- sum(y == 0)
  (sum(r[y == 1]) - n1 * (n1 + 1) / 2) / (n1 * n0)
}
pick <- c("age", "sexmale", "sexother", "sexunknown", "symptom_weeks", "baseline")
sm <- summary(ols)
sl <- summary(lgt)
out <- list(
  window = c("2024-03-01", "2025-06-30"),
  n_fit = nrow(f),
  ols = list(
    estimate = as.list(coef(ols)[pick]),
    std_error = as.list(sm$coefficients[pick, "Std. Error"]),
    r_squared = sm$r.squared,
    sigma = sm$sigma,
    conf_low_age = confint(ols)["age", 1],
    expected = as.list(setNames(predict(ols, newdata = d), d$episode_id))
  ),
  logistic = list(
    estimate = as.list(coef(lgt)[pick]),
    std_error = as.list(sl$coefficients[pick, "Std. Error"]),
    c_statistic = auc(f$responder, fitted(lgt)),
    expected = as.list(setNames(predict(lgt, newdata = d, type = "response"), d$episode_id))
  )
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = FALSE), "casemix.json")
